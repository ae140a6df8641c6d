# brax's own PPO trainer and jaxrl's ppo on brax/inverted_pendulum, interleaved on one
# machine over ROUNDS rounds (default 3, numbered from FIRST, default 1), one seed,
# jaxrl's default PPO configuration (mapped onto brax's fields in brax_ppo.py), 65,536
# env steps. Compile time on both sides is JAX's own clocks for the whole process
# (every trace, lowering and XLA compile), summed and as wall time (jaxrl compiles its
# programs side by side); jaxrl's row also has each program's own seconds. jaxrl runs
# twice: with its default fresh reset per episode, and with reset_mode=first_state, the
# reset brax's trainer uses (every episode restarts from the state drawn at reset).
set -e
cd "$(dirname "$0")/../.."
OUT=benchmarks/results
for round in $(seq "${FIRST:-1}" $(( ${FIRST:-1} + ${ROUNDS:-3} - 1 ))); do
  echo "round $round"
  .venv/bin/python benchmarks/peers/brax_ppo.py --env inverted_pendulum --total-timesteps 65536 \
      --json $OUT/peers/brax_ppo_inverted_pendulum_round$round.json
  .venv/bin/jaxrl bench ppo --env brax/inverted_pendulum --members 1 --total-timesteps 65536 \
      --json $OUT/ppo_brax_inverted_pendulum_compile_round$round.json
  .venv/bin/jaxrl bench ppo --env brax/inverted_pendulum --members 1 --total-timesteps 65536 \
      --env-set reset_mode=first_state \
      --json $OUT/ppo_brax_inverted_pendulum_first_state_compile_round$round.json
done
