"""The Examples section of every `--help`, in one table: command path -> lines.

A line starting with `#` says what the next command does; the others are pasted
as they are (`tests/test_help.py` parses every kpstask command in them with the
real parser, and keeps each line within an 80-column terminal). Read only when
help is shown.
"""

from __future__ import annotations

TASK = "aee8d2fe-5484-4753-9177-5a38dc15546c"

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "# Try it without an account: a local simulator and demo tasks",
        "kpstask demo",
        "# Which region, project and credentials would be used, and from where",
        "kpstask config show",
        "# A task's status; the exit code says how it ended (see below)",
        f"kpstask get {TASK}",
        "# Wait until it is finished, for at most 15 minutes",
        f"kpstask wait {TASK} --timeout 15m",
    ),
    "get": (
        "# A task's status (region, project, credentials: kpstask config show)",
        f"kpstask get {TASK}",
        "# The same, with everything on the command line",
        'kpstask get "$TASK_ID" -r cn-north-4 -p "$PROJECT_ID" --token-file token.txt',
        "# Several tasks, as JSON Lines, one per task",
        'kpstask get "$TASK1" "$TASK2" -o json | jq -r .task_status',
        "# In a script: only the exit code (0 succeeded, 1 failed, 3 not finished)",
        'kpstask get "$TASK_ID" --quiet',
        "# Ids from a file (or from the JSON answer of the call that made them)",
        "kpstask get --wait - < task-ids.txt",
    ),
    "wait": (
        "# Wait for a task: a live table on a terminal, plain lines elsewhere",
        f"kpstask wait {TASK}",
        "# At most 15 minutes (then exit 124); stop at the first failed task",
        'kpstask wait "$TASK1" "$TASK2" --timeout 15m --fail-fast',
        "# In CI: the result as JSON on stdout, progress as plain lines on stderr",
        'kpstask wait "$TASK_ID" -o json --progress plain > result.json',
        "# Until every task running in the project now is finished",
        "kpstask wait --all-running",
        "# The ids from the JSON answer of the call that started the tasks",
        "kpstask wait - < response.json",
        "# In GitHub Actions with `permissions: id-token: write`: no stored secret",
        'kpstask wait "$TASK_ID" --idp-id github --oidc-audience kpstask',
    ),
    "running": (
        "# Every key-pair task in flight in the project",
        "kpstask running",
        "# One server's, as TSV (an empty field is -)",
        'kpstask running --server "$SERVER_ID" -o tsv',
        "# Only the task ids",
        "kpstask running -o json | jq -r .task_id",
    ),
    "failed": (
        "# The failed tasks, with the API's error code and message",
        "kpstask failed",
        "kpstask failed -o json | jq -r '.task_id + \" \" + .task_error_msg'",
        "# Delete one record (asks first on a terminal)",
        f"kpstask failed --clear {TASK}",
        "# Delete every record of one server, without asking (as a script must)",
        'kpstask failed --clear-all --server "$SERVER_ID" --yes',
    ),
    "token": (
        "# Log in once (password or AK/SK); later commands reuse the token",
        'export KPSTASK_TOKEN="$(kpstask token)"',
        "# A token for another tool",
        'curl -H "X-Auth-Token: $(kpstask token)" "$URL"',
        "# On a terminal, on purpose",
        "kpstask token --show",
    ),
    "config show": (
        "# Every setting, where it came from, and what is missing",
        "kpstask config show",
        "# Another profile of the config file",
        "kpstask config show --profile prod",
        "# As JSON, to check a setup in a script (exit 2 when something is missing)",
        "kpstask config show -o json",
    ),
    "simulate": (
        "# A local KPS with the demo tasks on port 8686 (Ctrl-C stops it)",
        "kpstask simulate",
        "# In the background on a free port, then ask it about a demo task",
        "kpstask simulate --port 0 > sim.env &",
        "until grep -qs '^# ready' sim.env; do sleep 0.1; done; . sim.env",
        "kpstask get demo-bind-ok",
        "# 300 generated tasks (task-0001 ...), no scenario file",
        "kpstask simulate --tasks 300",
        "# Your own tasks and faults",
        "kpstask simulate --scenario my-scenario.toml",
    ),
    "demo": (
        "# Five demo tasks, waited on against a local simulator: no account needed",
        "kpstask demo",
        "kpstask demo --no-color",
        "# The same with no stored secret: an OIDC ID token, as in a GitHub Actions job",
        "kpstask demo --keyless",
        "# A fleet: 300 generated tasks, waited on with --all-running",
        "kpstask demo --tasks 300",
    ),
    "completion": (
        "# bash (with the bash-completion package)",
        "kpstask completion bash > ~/.local/share/bash-completion/completions/kpstask",
        "# zsh: a directory in $fpath (fpath+=(~/.zfunc) before compinit)",
        "kpstask completion zsh > ~/.zfunc/_kpstask",
        "# fish",
        "kpstask completion fish > ~/.config/fish/completions/kpstask.fish",
        "# PowerShell",
        "kpstask completion powershell >> $PROFILE",
    ),
}
