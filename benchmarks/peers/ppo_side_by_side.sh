# rejax 0.1.3 and jaxrl, interleaved on one machine over ROUNDS rounds (default 3), PPO on
# CartPole-v1 with PureJaxRL's configuration (262,144 env steps per member), at 16 and 256
# members. rejax vmaps its train function on one device; jaxrl shards the population
# over one host device per core. Needs /work/rejax-venv (see rejax_algorithms.py).
set -e
cd "$(dirname "$0")/../.."
R=${REJAX_PYTHON:-/work/rejax-venv/bin/python}
MEMBERS=${MEMBERS:-16,256}
for round in $(seq 1 "${ROUNDS:-3}"); do
  echo "round $round"
  $R benchmarks/peers/rejax_algorithms.py --algos ppo --members "$MEMBERS" \
      --json benchmarks/results/peers/rejax_ppo_cartpole.json
  .venv/bin/jaxrl bench ppo --env CartPole-v1 --members "$MEMBERS" --total-timesteps 262144 \
      --set anneal_lr=false --json benchmarks/results/ppo_cartpole_rejax_side_by_side.json
done
