"""The one place where evaluation fans work out: ``run_tasks(function, tasks, n_jobs, caller)``.

Each task is a tuple of arguments; the result is ``[function(*task) for task in tasks]``, in the
order of the tasks. With n_jobs=1 the calls run one after the other in this process and joblib is
not needed; otherwise they go through joblib.Parallel(n_jobs), so the joblib backend active around
the call decides where they run, e.g. on a Dask cluster:

    with joblib.parallel_backend("dask"):      # with a dask.distributed Client connected
        cross_validate(make_model, data, n_jobs=-1)      # or tune.search(..., n_jobs=-1)

``function`` and the tasks must pickle (module-level functions, plain data), and a task's result
must depend only on its arguments (seeds included), so that every backend gives the same list.
"""


def run_tasks(function, tasks, n_jobs, caller):
    """``[function(*task) for task in tasks]``, serially (n_jobs=1) or through joblib.Parallel.

    Parameters
    ----------
    function : callable
    tasks : list of tuple
        The arguments of each call.
    n_jobs : int
        1: in this process. Otherwise passed to joblib.Parallel (-1: every worker of the backend).
    caller : str
        Names the call in the ImportError raised when joblib is missing, e.g.
        "cross_validate(n_jobs=2)".
    """
    if n_jobs == 1:
        return [function(*task) for task in tasks]
    try:
        import joblib
    except ImportError as error:
        raise ImportError(
            f"{caller} runs its fits through joblib, which is not installed: "
            'pip install "nanorec[parallel]", or use n_jobs=1'
        ) from error
    run = joblib.Parallel(n_jobs=n_jobs)
    return run(joblib.delayed(function)(*task) for task in tasks)
