#!/bin/sh
# Measures the Discord bot against the local fake Discord (loopback only) with a release build:
# latency from the gateway sending INTERACTION_CREATE to the fake REST API receiving the
# callback (median/p99 over 1,000 interactions), and the idle RSS of `medic serve`.
# Figures are recorded in docs/discord.md.
set -eu
cd "$(dirname "$0")/.."
cargo test --release --test discord -- --ignored --nocapture --test-threads 1 measure_ 2>&1 \
  | grep -E "interaction →|idle medic serve|test result"
