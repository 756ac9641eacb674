#!/bin/sh
# Measures the Discord bot against the local fake Discord (loopback only) with a release build:
# latency from the gateway sending INTERACTION_CREATE to the fake REST API receiving the
# callback (median/p99 over 1,000 interactions), what the delivery path adds to a reply that
# lands on the first try (serenity's send_message vs Delivery::post, interleaved), and the idle
# RSS of `medic serve`. Figures are recorded in docs/discord.md and docs/benchmarks.md.
set -eu
cd "$(dirname "$0")/.."
cargo test --release --test integration -- --ignored --nocapture --test-threads 1 discord::measure_ 2>&1 \
  | grep -E "interaction →|first-try reply|idle medic serve|test result"
