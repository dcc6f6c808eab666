"""Depth rules: the depths a model family's builder accepts, as one object.

The builder checks a depth with its rule, and the registry describes the rule (``reskeras
list``) and offers its depths (the app's slider) from the same object, so the three never
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DepthChoices", "DepthRange", "DepthRule", "DepthSteps", "PresetDepth"]


class DepthRule:
    """Base class: ``check`` a depth, ``describe`` the rule, ``offered`` depths (all valid)."""

    offered: tuple[int, ...]

    def check(self, family: str, depth: object) -> int:
        """``depth`` if the rule accepts it; subclasses implement it.

        Args:
            family: the family's name, for the message.
            depth: the depth to check.

        Returns:
            ``depth``.

        Raises:
            ValueError: the rule does not accept ``depth``.
        """
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def __contains__(self, depth: object) -> bool:
        try:
            self.check("", depth)
        except ValueError:
            return False
        return True


def _is_int(depth: object) -> bool:
    return isinstance(depth, int) and not isinstance(depth, bool)


@dataclass(frozen=True)
class DepthChoices(DepthRule):
    """A fixed set of depths, each with its own spec (ImageNet ResNets, VDCNN).

    Args:
        choices: the accepted depths (also the offered ones).
    """

    choices: tuple[int, ...]

    @property
    def offered(self) -> tuple[int, ...]:
        return self.choices

    def check(self, family: str, depth: object) -> int:
        """``depth`` if it is one of ``choices``.

        Args:
            family: the family's name, for the message.
            depth: the depth to check.

        Returns:
            ``depth``.

        Raises:
            ValueError: ``depth`` is not one of ``choices``.
        """
        if not _is_int(depth) or depth not in self.choices:
            raise ValueError(
                f"Invalid {family} depth {depth!r}; expected one of {list(self.choices)}."
            )
        return depth

    def describe(self) -> str:
        return f"one of {', '.join(map(str, self.choices))}"


@dataclass(frozen=True)
class DepthSteps(DepthRule):
    """``depth = per * n + fixed`` with ``n >= 1`` blocks per stage (CIFAR and wide ResNets).

    Args:
        per: layers that one more block per stage adds (6: three stages of two-convolution
            blocks).
        fixed: the other layers the depth counts (2 for CIFAR ResNets: the stem and the
            classifier).
        offered: the depths a UI lists.
        known: famous deep depths, named in the error message (e.g. ``"110, 1202"``).
    """

    per: int
    fixed: int
    offered: tuple[int, ...]
    known: str

    def blocks_per_stage(self, family: str, depth: object) -> int:
        """``n`` for a valid depth.

        Args:
            family: the family's name, for the message.
            depth: ``per * n + fixed`` for some ``n >= 1``.

        Returns:
            ``n``, the blocks per stage.

        Raises:
            ValueError: ``depth`` is not of that form.
        """
        if not _is_int(depth) or depth < self.fixed + self.per or (depth - self.fixed) % self.per:
            first = [self.fixed + self.per * n for n in range(1, 6)]
            raise ValueError(
                f"Invalid depth {depth!r} for {family}: depth must be {self.describe()} "
                f"(n >= 1), e.g. {first} ... {self.known}."
            )
        return (depth - self.fixed) // self.per

    def check(self, family: str, depth: object) -> int:
        """``depth`` if it is ``per * n + fixed`` with ``n >= 1``.

        Args:
            family: the family's name, for the message.
            depth: the depth to check.

        Returns:
            ``depth``.

        Raises:
            ValueError: ``depth`` is not of that form.
        """
        self.blocks_per_stage(family, depth)
        return depth

    def describe(self) -> str:
        return f"{self.per}n+{self.fixed}"


@dataclass(frozen=True)
class DepthRange(DepthRule):
    """Depth is a number of blocks in ``low..high`` (stacked RNN and transformer blocks).

    Args:
        low: the smallest depth.
        high: the largest depth.
        offered: the depths a UI lists.
    """

    low: int
    high: int
    offered: tuple[int, ...]

    def check(self, family: str, depth: object) -> int:
        """``depth`` if it is an integer in ``low..high``.

        Args:
            family: the family's name, for the message.
            depth: the depth to check.

        Returns:
            ``depth``.

        Raises:
            ValueError: ``depth`` is not an integer in ``low..high``.
        """
        if not _is_int(depth) or not self.low <= depth <= self.high:
            raise ValueError(
                f"Invalid depth {depth!r} for {family}: depth is the number of blocks, an "
                f"integer in {self.low}..{self.high}, e.g. {list(self.offered[:4])}."
            )
        return depth

    def describe(self) -> str:
        return f"number of blocks, {self.low}..{self.high}"


@dataclass(frozen=True)
class PresetDepth(DepthRule):
    """The depth is fixed by a pretrained preset: the only depth is 0 ("the preset's").

    Args:
        offered: the depths a UI lists (just 0).
    """

    offered: tuple[int, ...] = (0,)

    def check(self, family: str, depth: object) -> int:
        """0 if ``depth`` is unset (``None``) or 0.

        Args:
            family: the family's name, for the message.
            depth: ``None`` or 0.

        Returns:
            0.

        Raises:
            ValueError: ``depth`` is anything else.
        """
        if depth not in (None, 0) or isinstance(depth, bool):
            raise ValueError(
                f"Invalid depth {depth!r} for {family}: a pretrained model's depth is its "
                "preset's; leave it unset."
            )
        return 0

    def describe(self) -> str:
        return "the preset's"
