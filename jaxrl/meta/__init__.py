"""Meta-learning by evolution strategies: learned objectives and schedules.

    es.py        meta_train(tasks, meta_params_init, strategy, ...) -> MetaResult
    tasks.py     inner training runs on the contract as ES tasks (any registered
                 algorithm; PPO with a learned drift; learned hyperparameter schedules)
    pipeline.py  `jaxrl meta lpo | schedule`: references, meta-train, meta-test, plots
"""
from jaxrl.meta.es import STRATEGIES, MetaResult, Task, meta_train

__all__ = ["STRATEGIES", "MetaResult", "Task", "meta_train"]
