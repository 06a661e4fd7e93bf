"""The Examples section of every `--help`, in one table: command path -> lines.

A line starting with `#` says what the next command does; the others are pasted
as they are (`tests/test_help.py` parses every kpstask command in them with the
real parser, and keeps each line within an 80-column terminal). Read only when
help is shown.
"""

from __future__ import annotations

from kpstask.i18n import N_

TASK = "aee8d2fe-5484-4753-9177-5a38dc15546c"

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        N_("# Try it without an account: a local simulator and demo tasks"),
        "kpstask demo",
        N_("# Which region, project and credentials would be used, and from where"),
        "kpstask config show",
        N_("# A task's status; the exit code says how it ended (see below)"),
        f"kpstask get {TASK}",
        N_("# Wait until it is finished, for at most 15 minutes"),
        f"kpstask wait {TASK} --timeout 15m",
    ),
    "get": (
        N_("# A task's status (region, project, credentials: kpstask config show)"),
        f"kpstask get {TASK}",
        N_("# The same, with everything on the command line"),
        'kpstask get "$TASK_ID" -r cn-north-4 -p "$PROJECT_ID" --token-file token.txt',
        N_("# Several tasks, as JSON Lines, one per task"),
        'kpstask get "$TASK1" "$TASK2" -o json | jq -r .task_status',
        N_("# In a script: only the exit code (0 succeeded, 1 failed, 3 not finished)"),
        'kpstask get "$TASK_ID" --quiet',
        N_("# Ids from a file (or from the JSON answer of the call that made them)"),
        "kpstask get --wait - < task-ids.txt",
    ),
    "wait": (
        N_("# Wait for a task: a live table on a terminal, plain lines elsewhere"),
        f"kpstask wait {TASK}",
        N_("# At most 15 minutes (then exit 124); stop at the first failed task"),
        'kpstask wait "$TASK1" "$TASK2" --timeout 15m --fail-fast',
        N_("# In CI: the result as JSON on stdout, progress as plain lines on stderr"),
        'kpstask wait "$TASK_ID" -o json --progress plain > result.json',
        N_("# Until every task running in the project now is finished"),
        "kpstask wait --all-running",
        N_("# The ids from the JSON answer of the call that started the tasks"),
        "kpstask wait - < response.json",
        N_("# In GitHub Actions with `permissions: id-token: write`: no stored secret"),
        'kpstask wait "$TASK_ID" --idp-id github --oidc-audience kpstask',
    ),
    "running": (
        N_("# Every key-pair task in flight in the project"),
        "kpstask running",
        N_("# One server's, as TSV (an empty field is -)"),
        'kpstask running --server "$SERVER_ID" -o tsv',
        N_("# Only the task ids"),
        "kpstask running -o json | jq -r .task_id",
    ),
    "failed": (
        N_("# The failed tasks, with the API's error code and message"),
        "kpstask failed",
        "kpstask failed -o json | jq -r '.task_id + \" \" + .task_error_msg'",
        N_("# Delete one record (asks first on a terminal)"),
        f"kpstask failed --clear {TASK}",
        N_("# Delete every record of one server, without asking (as a script must)"),
        'kpstask failed --clear-all --server "$SERVER_ID" --yes',
    ),
    "token": (
        N_("# Log in once (password or AK/SK); later commands reuse the token"),
        'export KPSTASK_TOKEN="$(kpstask token)"',
        N_("# A token for another tool"),
        'curl -H "X-Auth-Token: $(kpstask token)" "$URL"',
        N_("# On a terminal, on purpose"),
        "kpstask token --show",
    ),
    "config show": (
        N_("# Every setting, where it came from, and what is missing"),
        "kpstask config show",
        N_("# Another profile of the config file"),
        "kpstask config show --profile prod",
        N_("# As JSON, to check a setup in a script (exit 2 when something is missing)"),
        "kpstask config show -o json",
    ),
    "simulate": (
        N_("# A local KPS with the demo tasks on port 8686 (Ctrl-C stops it)"),
        "kpstask simulate",
        N_("# In the background on a free port, then ask it about a demo task"),
        "kpstask simulate --port 0 > sim.env &",
        "until grep -qs '^# ready' sim.env; do sleep 0.1; done; . sim.env",
        "kpstask get demo-bind-ok",
        N_("# 300 generated tasks (task-0001 ...), no scenario file"),
        "kpstask simulate --tasks 300",
        N_("# Your own tasks and faults"),
        "kpstask simulate --scenario my-scenario.toml",
    ),
    "demo": (
        N_("# Five demo tasks, waited on against a local simulator: no account needed"),
        "kpstask demo",
        "kpstask demo --no-color",
        N_("# The same with no stored secret: an OIDC ID token, as in a GitHub Actions job"),
        "kpstask demo --keyless",
        N_("# A fleet: 300 generated tasks, waited on with --all-running"),
        "kpstask demo --tasks 300",
    ),
    "completion": (
        N_("# bash (with the bash-completion package)"),
        "kpstask completion bash > ~/.local/share/bash-completion/completions/kpstask",
        N_("# zsh: a directory in $fpath (fpath+=(~/.zfunc) before compinit)"),
        "kpstask completion zsh > ~/.zfunc/_kpstask",
        N_("# fish"),
        "kpstask completion fish > ~/.config/fish/completions/kpstask.fish",
        N_("# PowerShell"),
        "kpstask completion powershell >> $PROFILE",
    ),
}
