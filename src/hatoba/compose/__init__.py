"""Compose files as a typed project, and the plan that brings containers in line with it.

Pure: no sockets, no processes, no kernel. It reads the files it is given (compose files,
`.env`, `env_file`) and nothing else; the CLI executes the plans over the Engine API.

    source.py         YAML (libyaml) → plain trees that remember the file and line of each value
    dotenv.py         `.env` and `env_file` files
    interpolation.py  `${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$` …
    merge.py          several files into one tree, as the compose specification says
    schema.py         validation against the published compose-spec JSON schema
    normalize.py      tree → frozen values (model.py); hatoba's own checks; unsupported keys
    volumes.py        a service's volumes: the short syntax, host paths
    project.py        files, project directory and name, environment: the whole load
    requests.py       model → Engine API request bodies, labels and names as docker compose's
    plan.py           project + what the engine has → what to create, recreate, start, remove

Every problem in a file is collected and reported at once (errors.ComposeError), each with
its file, line and path (`services.web.ports[1]`).
"""
