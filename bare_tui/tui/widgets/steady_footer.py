"""The key bar, built again only when the keys it shows change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class SteadyFooter(Footer):
    """Textual's footer, which mounts a widget per key again each time a screen's bindings
    are refreshed: as a dialog closes, that is about 30 ms of the keypress on the review
    screen, for the same keys. This one keeps its keys while they are the same."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._composed_for: tuple | None = None

    def _keys(self, screen: Screen) -> tuple:
        return (tuple((binding, enabled, tooltip) for _node, binding, enabled, tooltip
                      in screen.active_bindings.values() if binding.show),
                self.show_command_palette)

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._composed_for = self._keys(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        if self._composed_for is None or self._keys(screen) != self._composed_for:
            super().bindings_changed(screen)
