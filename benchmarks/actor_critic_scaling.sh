# sac, td3 and ddpg with their default configurations at 1, 16 and 256 members on
# Pendulum-v1 and brax/inverted_pendulum (throughput budgets: 2,000 env steps per member,
# 500 of them warm-up, so the final returns are not learning results). The committed
# td3 brax rows are from a later run than the rest (see benchmarks/README.md).
set -e
cd "$(dirname "$0")/.."
J=.venv/bin/jaxrl
for a in sac td3 ddpg; do
  $J bench $a --env Pendulum-v1 --members 1,16,256 --total-timesteps 2000 \
      --set learning_starts=500 --json benchmarks/results/${a}_pendulum.json
done
for a in sac td3; do
  $J bench $a --env brax/inverted_pendulum --members 1,16,256 --total-timesteps 2000 \
      --set learning_starts=500 --json benchmarks/results/${a}_brax_inverted_pendulum.json
done
