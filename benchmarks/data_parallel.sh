# One PPO CartPole member (num_envs x 64 steps per update) on one device and spread over
# two (--set data_parallel=2), interleaved over ROUNDS rounds (default 2); the rows are
# collected into benchmarks/results/ppo_cartpole_data_parallel.json.
set -e
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
for round in $(seq 1 "${ROUNDS:-2}"); do
  for envs in 512 2048; do
    for d in 1 2; do
      .venv/bin/jaxrl bench ppo --env CartPole-v1 --members 1 --total-timesteps 1966080 \
          --set num_envs=$envs --set num_steps=64 --set data_parallel=$d \
          --json "$tmp/r${round}_e${envs}_d${d}.json"
    done
  done
done
.venv/bin/python - "$tmp" <<'PY'
import glob, json, sys
rows = []
for path in sorted(glob.glob(sys.argv[1] + "/r*.json")):
    data = json.load(open(path))
    for row in data["results"]:
        row["round"] = int(path.rsplit("/r", 1)[1].split("_")[0])
        rows.append(row)
json.dump({"machine": data["machine"], "results": rows},
          open("benchmarks/results/ppo_cartpole_data_parallel.json", "w"), indent=1)
PY
