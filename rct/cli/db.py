"""``rct db``: PostgreSQL roles for the trial and the logins of its people
(docs/database-roles.md)."""

from __future__ import annotations

import click

from rct.cli.common import State, echo_json, json_option, pass_state, table

_PREFIX = click.option(
    "--prefix",
    default=None,
    metavar="TEXT",
    help="Start of the trial's role names (default: rct_<database>_; roles are global to "
    "the PostgreSQL server, so each trial needs its own).",
)


@click.group()
def db() -> None:
    """PostgreSQL roles and logins: the database enforces each trial role's scope."""


@db.command("roles")
@_PREFIX
@click.option(
    "--print-sql",
    is_flag=True,
    help="Print the SQL for a database administrator instead of running it.",
)
@json_option
@pass_state
def roles(state: State, prefix: str | None, print_sql: bool, as_json: bool) -> None:
    """Create the trial's PostgreSQL roles with least privilege (PostgreSQL only).

    An owner role nobody logs in as owns the tables; one group role per trial role may
    read, and write only what that role writes; row-level security lets a data manager's
    login write only their own borough's data. Needs an admin acting over a superuser
    connection; run again after 'rct init' upgrades the schema.
    """
    # lazy: loads sqlalchemy (start-up time)
    from rct.pg_roles import create_roles, plan_roles

    plan = plan_roles(state.url, prefix)
    if print_sql:
        click.echo(plan.sql, nl=False)
        return
    create_roles(state.workspace(), plan)
    if as_json:
        echo_json(plan.to_dict())
        return
    click.echo(f"Roles for database {plan.database} (owner {plan.names.owner}, nobody logs in):")
    for role, group in plan.to_dict()["groups"].items():
        click.echo(f"  {role:<13} {group}")
    click.echo("Give each person a login with 'rct db login add LOGIN --user NAME'")


@db.group("login")
def login() -> None:
    """Database logins: which trial user each PostgreSQL login acts as."""


@login.command("add")
@click.argument("login_name", metavar="LOGIN")
@click.option("--user", "user_name", required=True, help="The trial user this login acts as.")
@click.option("--create", is_flag=True, help="Create the login role too (no password set).")
@_PREFIX
@json_option
@pass_state
def login_add(
    state: State, login_name: str, user_name: str, create: bool, prefix: str | None, as_json: bool
) -> None:
    """Let LOGIN act as trial user NAME: the login joins NAME's role group, and the
    application and the database's policies treat its connections as NAME's."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.pg_roles import add_login

    grant = add_login(state.workspace(), login_name, user_name, prefix=prefix, create=create)
    if as_json:
        echo_json(grant.to_dict())
        return
    scope = f" for {grant.borough}" if grant.borough else ""
    made = "created and " if grant.created else ""
    click.echo(
        f"Login {grant.login} {made}mapped to {grant.user} ({grant.role}{scope}), "
        f"member of {grant.group}"
    )


@login.command("list")
@json_option
@pass_state
def login_list(state: State, as_json: bool) -> None:
    """List the logins mapped to trial users."""
    # lazy: loads sqlalchemy (start-up time)
    from rct.pg_roles import list_logins

    rows = [r.to_dict() for r in list_logins(state.workspace())]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("No login is mapped to a trial user yet")
        return
    headers = ["login", "user", "role", "borough", "granted_at", "granted_by"]
    click.echo(table([[str(r[h] or "") for h in headers] for r in rows], headers))
