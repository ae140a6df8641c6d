# brax's own PPO trainer and jaxrl's ppo on brax/inverted_pendulum, interleaved on one
# machine over ROUNDS rounds (default 3), one seed, jaxrl's default PPO configuration
# (mapped onto brax's fields in brax_ppo.py), 65,536 env steps. Compile time on both
# sides is JAX's own clocks for the whole process (every trace, lowering and XLA
# compile); jaxrl's row also has its training and evaluation programs apart. jaxrl runs
# twice: with its default fresh reset per episode, and with reset_mode=first_state, the
# reset brax's trainer uses (every episode restarts from the state drawn at reset).
set -e
cd "$(dirname "$0")/../.."
OUT=benchmarks/results
for round in $(seq 1 "${ROUNDS:-3}"); do
  echo "round $round"
  .venv/bin/python benchmarks/peers/brax_ppo.py --env inverted_pendulum --total-timesteps 65536 \
      --json $OUT/peers/brax_ppo_inverted_pendulum_round$round.json
  .venv/bin/jaxrl bench ppo --env brax/inverted_pendulum --members 1 --total-timesteps 65536 \
      --json $OUT/ppo_brax_inverted_pendulum_compile_round$round.json
  .venv/bin/jaxrl bench ppo --env brax/inverted_pendulum --members 1 --total-timesteps 65536 \
      --env-set reset_mode=first_state \
      --json $OUT/ppo_brax_inverted_pendulum_first_state_compile_round$round.json
done
