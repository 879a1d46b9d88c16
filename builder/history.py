"""Undo and redo as a list of graph snapshots.

Graphs are immutable, so a snapshot is just a reference and a step costs almost nothing. Pushes that carry the
same key one after another (typing in one parameter field, dragging one node) merge into one step, so undo
goes back to before the whole change rather than one keystroke at a time.
"""

from __future__ import annotations

from builder.graph import Graph

DEFAULT_LIMIT = 200


class History:
    """Snapshots with a cursor: ``current`` is the graph on screen."""

    def __init__(self, initial: Graph | None = None, limit: int = DEFAULT_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self.limit = limit
        self._states: list[Graph] = [] if initial is None else [initial]
        self._index = len(self._states) - 1
        self._last_key: str | None = None

    @property
    def current(self) -> Graph | None:
        return self._states[self._index] if self._states else None

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._states) - 1

    @property
    def steps(self) -> int:
        """How many undo steps are available."""
        return max(self._index, 0)

    def push(self, graph: Graph, key: str | None = None) -> None:
        """Record ``graph`` as the new current state; drops the redo branch. A repeat of the current graph is ignored."""
        current = self.current
        if current is not None and (graph is current or graph == current):
            return
        del self._states[self._index + 1:]
        if key is not None and key == self._last_key and self._index > 0:
            self._states[self._index] = graph  # same ongoing change: replace instead of adding a step
            return
        self._states.append(graph)
        overflow = len(self._states) - (self.limit + 1)
        if overflow > 0:
            del self._states[:overflow]
        self._index = len(self._states) - 1
        self._last_key = key

    def undo(self) -> Graph | None:
        """Step back; returns the graph to show, or None when there is nothing to undo."""
        if not self.can_undo:
            return None
        self._index -= 1
        self._last_key = None  # the next edit starts a new step even with the same key
        return self._states[self._index]

    def redo(self) -> Graph | None:
        if not self.can_redo:
            return None
        self._index += 1
        self._last_key = None
        return self._states[self._index]

    def snapshot(self) -> tuple[list[Graph], int]:
        """The snapshots (oldest first) and the index of the current one: what ``restored`` takes back."""
        return list(self._states), self._index

    @classmethod
    def restored(cls, states: list[Graph], index: int, limit: int = DEFAULT_LIMIT) -> History:
        """A history as ``snapshot`` gave it (work kept between visits: undo and redo still work)."""
        if not states or not 0 <= index < len(states):
            raise ValueError(f"index {index} is not one of the {len(states)} snapshots")
        history = cls(limit=limit)
        history._states, history._index = list(states), index
        return history

    def reset(self, graph: Graph) -> None:
        """Start over from ``graph`` (a loaded file or template): no undo back into the previous design."""
        self._states = [graph]
        self._index = 0
        self._last_key = None
