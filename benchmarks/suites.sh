# PPO on each environment suite's representative env at 1, 16 and 256 members
# (throughput budgets, not learning results), and the cost of a fresh reset against the
# cheap ones (reset_mode=first_state; reset_mode=optimistic, one fresh reset per 16 copies
# per step, at least one: here 1 for each member's 4 envs) where resets are expensive
# (Craftax's world generation, Playground's physics). JSON in benchmarks/results/suite_*.json.
#   bash benchmarks/suites.sh [MEMBERS]     (default 1,16,256)
set -e
cd "$(dirname "$0")/.."
J=.venv/bin/jaxrl
M=${1:-1,16,256}
run() {  # name env [extra flags...]
  local name=$1 env=$2; shift 2
  $J bench ppo --env "$env" --members "$M" --total-timesteps 4096 \
      --set num_envs=4 --set num_steps=64 "$@" --json "benchmarks/results/suite_$name.json"
}
run navix_empty navix/Navix-Empty-5x5-v0
run xminigrid_empty xminigrid/MiniGrid-Empty-5x5
run jumanji_snake jumanji/Snake-v1
run pgx_breakout pgx/minatar-breakout
run playground_cartpole playground/CartpoleBalance
run playground_cartpole_first_state playground/CartpoleBalance --env-set reset_mode=first_state
run craftax_classic craftax/Craftax-Classic-Symbolic-v1
run craftax_classic_first_state craftax/Craftax-Classic-Symbolic-v1 --env-set reset_mode=first_state
run craftax_classic_optimistic craftax/Craftax-Classic-Symbolic-v1 --env-set reset_mode=optimistic
