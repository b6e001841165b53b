"""The read-only and configuration commands: list, log, computeModules, queryMachines,
activeMachines, setSender, setSetting."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from magickbox.client.boxes import BoxClient, fan_out
from magickbox.client.context import Context, Found
from magickbox.client.errors import EXIT_OK, BoxError, UsageError
from magickbox.client.home import Machine, format_duration, parse_duration
from magickbox.client.match import matches
from magickbox.client.output import go_json, info, print_json, warn

LOG_FETCHERS_PER_BOX = 8


def cmd_list(context: Context, regex: re.Pattern[str]) -> int:
    found = context.select(context.clients(), regex)
    print_json([item.entry for item in found] or None)
    return context.exit_code


def _with_log(item: Found) -> Found:
    # lastChangedTime "0" means the box found no processing.log: no request needed.
    has_log = bool(item.scratchdir) and item.entry.get("lastChangedTime") != "0"
    try:
        text = item.client.log(item.scratchdir) if has_log else ""
    except BoxError as exc:
        warn(str(exc))
        text = ""
    return Found({**item.entry, "log": text}, item.client)


def cmd_log(context: Context, regex: re.Pattern[str]) -> int:
    """Like list, with each session's processing.log; the regex also searches the log text."""
    everything = context.list_sessions(context.clients())
    with ThreadPoolExecutor(max_workers=LOG_FETCHERS_PER_BOX * len(context.machines)) as pool:
        logged = list(pool.map(_with_log, everything))
    chosen = [item.entry for item in logged if item.matches(regex)]
    print_json(chosen or None)
    return context.exit_code


BUCKET_FIELDS = ("AETitle", "Description", "License", "Name", "Version")


def bucket_record(bucket: dict[str, Any], machine: Machine) -> dict[str, Any]:
    """The Go client's struct: its field names matched the JSON keys case-insensitively."""
    lowered = {key.lower(): value for key, value in bucket.items()}
    record = {name: lowered.get(name.lower(), "") for name in BUCKET_FIELDS}
    record = {name: value if isinstance(value, str) else str(value) for name, value in record.items()}
    return {**record, "Machine": machine.host, "Port": machine.port}


def cmd_compute_modules(context: Context, regex: re.Pattern[str] | None) -> int:
    answers = fan_out(context.clients(), lambda client: client.buckets(), context.timeout_s * 11)
    context.note_failures(answers)
    records = [
        bucket_record(bucket, answer.client.machine) for answer in answers for bucket in answer.value or []
    ]
    if regex is not None:  # every matching bucket (the original kept only the first per box)
        records = [record for record in records if matches(record, regex)]
    print_json(records or None)
    return context.exit_code


def _known_boxes(client: BoxClient) -> list[dict[str, Any]]:
    known = client.machines()
    if known is None:
        warn(f"{client.label} does not list other boxes (an original MagickBox?); showing it alone")
        return [client.machine.to_json()]
    return known


def cmd_query_machines(context: Context, with_status: bool) -> int:
    """The boxes the active boxes know (their `/api/v1/machines`). No internet host is contacted."""
    if not context.machines:
        raise UsageError(
            "no active machines: add a box you know with 'mb activeMachines add <host> <port>';"
            " then 'mb queryMachines' lists the boxes it knows"
        )
    clients = context.clients()
    answers = fan_out(clients, _known_boxes, context.timeout_s * 11)
    context.note_failures(answers)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for answer in answers:
        for entry in answer.value or []:
            host, port = str(entry.get("Machine", "")), str(entry.get("Port", ""))
            if host and port and (host, port) not in seen:
                seen[(host, port)] = {"Sender": "", "Status": None, **entry, "Machine": host, "Port": port}
    boxes = list(seen.values())
    if with_status and boxes:
        probes = [BoxClient(Machine(box["Machine"], box["Port"]), context.timeout_s) for box in boxes]
        for box, status in zip(
            boxes, fan_out(probes, lambda c: c.status(), context.timeout_s * 11), strict=True
        ):
            box["Status"] = status.value if status.error is None else None
            if status.error is not None:
                warn(str(status.error))
    print_json(boxes or None)
    return context.exit_code


def _masked(machine: Machine) -> dict[str, Any]:
    shown = machine.to_json()
    if machine.token:
        shown["Token"] = "****"
    return shown


def cmd_active_machines(
    context: Context,
    action: str | None,
    host: str | None,
    port: str | None,
    token: str | None,
    dicom_port: int | None,
) -> int:
    machines = context.machines
    if action is not None:
        if not host or not port:
            raise UsageError(f"usage: mb activeMachines {action} <host> <port>")
        if not port.isdigit():
            raise UsageError(f"port must be a number, got {port!r}")
        index = next((i for i, m in enumerate(machines) if m.host == host and m.port == port), None)
        if action == "add":
            _add_machine(context, index, host, port, token, dicom_port)
        elif index is None:
            raise UsageError(f"machine {host}:{port} is not part of activeMachines")
        else:
            del machines[index]
            context.home.save_machines(machines)
    print(go_json([_masked(machine) for machine in machines]))
    return EXIT_OK


def _add_machine(
    context: Context, index: int | None, host: str, port: str, token: str | None, dicom_port: int | None
) -> None:
    machines = context.machines
    if index is None:
        machines.append(Machine(host, port, {"Machine": host, "Port": port, "Sender": "", "Status": None}))
        index = len(machines) - 1
    elif token is None and dicom_port is None:
        info("info: machine already part of the active list, nothing will be done")
        return
    if token is not None:
        machines[index].raw["Token"] = token
    if dicom_port is not None:
        machines[index].raw["DicomPort"] = str(dicom_port)
    context.home.save_machines(machines)


def cmd_set_sender(context: Context, sender: str | None) -> int:
    if sender is not None:
        context.settings.sender = sender
        context.home.save_settings(context.settings)
    print(f'{{"sender": {go_json(context.settings.sender)}}}')
    return EXIT_OK


def cmd_set_setting(context: Context, name: str | None, value: str | None) -> int:
    settings = context.settings
    if name is None:
        print_json(settings.to_json())
        return EXIT_OK
    key = name.lower()
    if key not in ("sender", "timeout"):
        raise UsageError(f"unknown setting {name!r}: the settings are Sender and Timeout")
    if value is not None:
        if key == "sender":
            settings.sender = value
        else:
            nanoseconds = parse_duration(value)
            if nanoseconds <= 0:
                raise UsageError("Timeout must be more than 0, e.g. 2s")
            settings.timeout_ns = nanoseconds
        context.home.save_settings(settings)
    if key == "sender":
        print(f'{{"sender": {go_json(settings.sender)}}}')
    else:
        print(f'{{"Timeout": "{format_duration(settings.timeout_ns)}"}}')
    return EXIT_OK
