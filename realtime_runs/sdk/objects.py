"""Run objects and stream parts as the Python SDKs (in-process and remote) hand them out."""

from dataclasses import dataclass


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class RunObject:
    """The run object of CONTRACT.md §1 with Python names: ``run.status``, ``run.metadata``,
    ``run.task_identifier``, ``run.is_finished``; ``to_dict()`` gives the JSON object back."""

    __slots__ = ("_data",)

    def __init__(self, data: dict):
        self._data = data

    def __getattr__(self, name):
        data = object.__getattribute__(self, "_data")
        for key in (camel(name), name):
            if key in data:
                return data[key]
        raise AttributeError(f"a run object has no {name!r}")

    def __getitem__(self, key):
        return self._data[key]

    def __eq__(self, other):
        return isinstance(other, RunObject) and other._data == self._data

    def __hash__(self):
        return hash((self._data.get("id"), self._data.get("version")))

    def to_dict(self) -> dict:
        return dict(self._data)

    def __repr__(self):
        d = self._data
        return f"<RunObject {d.get('id')} {d.get('status')} v{d.get('version')}>"


@dataclass(frozen=True)
class Part:
    """What ``.with_streams()`` yields: ``type`` is "run" (with ``run``) or a stream key (with
    ``chunk`` and its ``seq``)."""

    type: str
    run_id: str
    run: RunObject | None = None
    chunk: object = None
    seq: int | None = None
