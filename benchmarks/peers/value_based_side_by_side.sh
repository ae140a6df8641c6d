# rejax 0.1.3 and jaxrl, interleaved on one machine, with rejax's CartPole DQN and PQN
# configurations (rejax: configs/gymnax/cartpole.yaml). Needs /work/rejax-venv (see
# rejax_algorithms.py). DQN: rejax updates its target every train iteration (5 gradient
# steps) with polyak 0.98 and uses a squared TD loss: target_tau=0.02, target_period=5,
# td_loss=mse here. PQN: rejax does not anneal its learning rate.
set -e
cd "$(dirname "$0")/../.."
R=${REJAX_PYTHON:-/work/rejax-venv/bin/python}
DQN="--set num_envs=10 --set buffer_size=50000 --set learning_starts=5000 --set batch_size=100 --set learning_rate=1e-3 --set max_grad_norm=10 --set gradient_steps=5 --set target_tau=0.02 --set target_period=5 --set epsilon_fraction=0.5 --set anneal_lr=false --set activation=silu --set double_q=true --set dueling=true --set td_loss=mse"
PQN="--set anneal_lr=false"
$R benchmarks/peers/rejax_algorithms.py --algos dqn --members 1,16 --json benchmarks/results/peers/rejax_dqn_cartpole.json
.venv/bin/jaxrl bench dqn --env CartPole-v1 --members 1,16 --total-timesteps 100000 $DQN --json benchmarks/results/dqn_cartpole_rejax_config.json
$R benchmarks/peers/rejax_algorithms.py --algos pqn --members 1,16 --json benchmarks/results/peers/rejax_pqn_cartpole.json
.venv/bin/jaxrl bench pqn --env CartPole-v1 --members 1,16 --total-timesteps 524288 $PQN --json benchmarks/results/pqn_cartpole_rejax_config.json
