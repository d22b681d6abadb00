"""``python -m kdsrl_lobes.params`` counts the parameters of teacher,
student and heads: the command's short, stable name for
`kdsrl_lobes.evaluation.counts`, where the code lives."""

from kdsrl_lobes.evaluation.counts import main

if __name__ == "__main__":
    main()
