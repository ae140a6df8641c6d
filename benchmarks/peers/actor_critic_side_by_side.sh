# SAC and TD3: rejax 0.1.3 and jaxrl interleaved on one machine with rejax's Pendulum
# configurations (rejax: configs/gymnax/pendulum.yaml, 10k steps per seed), then brax's
# own SAC trainer and jaxrl's sac on brax/inverted_pendulum at one budget and config.
# Needs /work/rejax-venv (see rejax_algorithms.py). Usage: bash THIS [pendulum|brax|all]
#
# The mapping of rejax's fields: fill_buffer -> learning_starts, polyak p -> target_tau
# 1-p, num_epochs -> gradient_steps, swish -> silu; both use (64, 64) torsos. rejax clips
# gradients element-wise (optax.clip) where jaxrl clips the global norm; rejax's SAC
# default max_grad_norm is inf, so jaxrl gets 1e9 there. Both evaluate 128 episodes per
# member at the end (rejax samples its policy, jaxrl acts greedily): with jaxrl's default
# 16 episodes, shared by all members, one draw of 16 Pendulum starts moved the mean
# final return by 30.
set -e
cd "$(dirname "$0")/../.."
R=${REJAX_PYTHON:-/work/rejax-venv/bin/python}
J=.venv/bin/jaxrl
OUT=benchmarks/results
COMMON="--set eval_episodes=128 --set num_envs=1 --set buffer_size=10000 --set gradient_steps=1 --set gamma=0.99 --set normalize_observations=true --set activation=silu --set hidden_sizes=64,64"
SAC="$COMMON --set learning_starts=256 --set batch_size=256 --set learning_rate=0.01 --set target_tau=0.02 --set max_grad_norm=1e9"
TD3="$COMMON --set learning_starts=1000 --set batch_size=100 --set learning_rate=0.001 --set target_tau=0.05 --set max_grad_norm=100 --set exploration_noise=0.3 --set exploration_noise_end=0.3 --set target_noise=0.2 --set target_noise_clip=0.5 --set policy_delay=2"
PART=${1:-all}
if [ "$PART" != brax ]; then
$R benchmarks/peers/rejax_algorithms.py --algos sac --members 1,16 --json $OUT/peers/rejax_sac_pendulum.json
$J bench sac --env Pendulum-v1 --members 1,16 --total-timesteps 10000 $SAC --json $OUT/sac_pendulum_rejax_config.json
$R benchmarks/peers/rejax_algorithms.py --algos td3 --members 1,16 --json $OUT/peers/rejax_td3_pendulum.json
$J bench td3 --env Pendulum-v1 --members 1,16 --total-timesteps 10000 $TD3 --json $OUT/td3_pendulum_rejax_config.json
fi
[ "$PART" = pendulum ] && exit 0

BRAX="--set num_envs=1 --set batch_size=256 --set learning_rate=3e-4 --set target_tau=0.005 --set learning_starts=1000 --set buffer_size=100000 --set hidden_sizes=64,64"
.venv/bin/python benchmarks/peers/brax_sac.py --env inverted_pendulum --total-timesteps 20000 --json $OUT/peers/brax_sac_inverted_pendulum.json
$J bench sac --env brax/inverted_pendulum --members 1,16 --total-timesteps 20000 $BRAX --json $OUT/sac_brax_inverted_pendulum_brax_config.json
