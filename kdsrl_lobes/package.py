"""``python -m kdsrl_lobes.package`` writes a hub package of a trained
multi-task model: the command's short, stable name for
`kdsrl_lobes.hub.package`, where the code lives."""

from kdsrl_lobes.hub.package import main

if __name__ == "__main__":
    main()
