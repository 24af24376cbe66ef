"""The matching engine: which offers fit which wants, and the swaps they close.

Pure: it takes a snapshot of active items and members' cities and returns proposals; no HTTP,
no database, no clock, no randomness. The same input gives the same output in the same order.

Rules (docs/exchange.md, "Matching rules"):
- an offer *fits* a want when both have the same exchange_type and category, their owners
  differ and share a city, and |offer - want| <= tolerance x max(offer, want), where a
  temporary item's value is value_tenge / duration_days;
- a *participant* gives its offer to the next participant and receives the previous one's; its
  score is 1 - |give - receive| / max(give, receive);
- a proposal is a cycle of 2 (a pair) or 3..max_chain (a chain) distinct members where each
  participant's offer fits the next participant's want, and every participant's score is at
  least min_score (a proposal's score is the lowest of its participants').

Algorithm: bounded cycle enumeration, not TradeMaximizer's min-cost assignment. TradeMaximizer
picks one set of disjoint cycles that moves the most items; the contract here asks for *every*
fitting proposal, so that members choose (accept or decline) and a completed swap cancels the
proposals it competes with. An assignment cannot list alternatives; an enumeration can, and the
cycle length bound (10) and the score rule keep it small:
1. fits are found per (exchange_type, category) by a sorted value window (O(n log n));
2. members are grouped into strongly connected components of the "offers to" graph: a cycle
   never leaves one, so everyone outside a non-trivial component is skipped;
3. each cycle is found exactly once, from its smallest member id (Johnson's ordering): a
   depth-first search from member s visits only members > s, and a breadth-first distance back
   to s prunes every branch that could not close within the length bound;
4. along the way a branch is cut as soon as one participant's score falls below min_score.
All comparisons are exact (integer cross-multiplication), so a value exactly on a bound fits.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

MIN_CHAIN = 3


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    user_id: int
    item_type: str
    """want | offer"""
    category: str
    exchange_type: str
    """permanent | temporary"""
    value_tenge: int
    duration_days: int | None = None

    @property
    def days(self) -> int:
        return self.duration_days or 1 if self.exchange_type == "temporary" else 1

    @property
    def rate(self) -> float:
        """The compared value: the total for permanent items, per day for temporary ones."""
        return self.value_tenge / self.days


@dataclass(frozen=True, slots=True)
class Rules:
    tolerance: Fraction = Fraction(3, 20)
    min_score: Fraction = Fraction(7, 10)
    max_chain: int = 10
    max_cycles: int = 200_000
    max_steps: int = 3_000_000
    """Safety bounds on one search (proposals found, branches tried): a dense market has more
    cycles than anyone can review; ``Result.truncated`` says when a bound was reached."""

    @classmethod
    def of(cls, tolerance: float, min_score: float, max_chain: int, max_cycles: int = 200_000) -> Rules:
        # Fraction(str(x)): 0.15 is exactly 3/20, not the binary float nearest to it.
        return cls(Fraction(str(tolerance)), Fraction(str(min_score)), max_chain, max_cycles)

    def __post_init__(self) -> None:
        if not 2 <= self.max_chain:
            raise ValueError("max_chain is at least 2")


@dataclass(frozen=True, slots=True, order=True)
class Seat:
    """A participant: gives ``offer_item_id`` to the next seat, receives into ``want_item_id``."""

    user_id: int
    offer_item_id: int
    want_item_id: int


@dataclass(frozen=True, slots=True)
class Proposal:
    kind: str
    """pair | chain"""
    exchange_type: str
    score: float
    seats: tuple[Seat, ...]
    """Rotated so that the smallest user id comes first."""

    @property
    def combination(self) -> str:
        """Names the users and items: the same swap has the same combination in every run."""
        text = (
            self.exchange_type
            + "|"
            + "|".join(f"{s.user_id}:{s.offer_item_id}:{s.want_item_id}" for s in self.seats)
        )
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def user_ids(self) -> tuple[int, ...]:
        return tuple(s.user_id for s in self.seats)

    @property
    def item_ids(self) -> tuple[int, ...]:
        return tuple(i for s in self.seats for i in (s.offer_item_id, s.want_item_id))


@dataclass(slots=True)
class Result:
    proposals: list[Proposal] = field(default_factory=list)
    truncated: bool = False
    steps: int = 0


def _within(a: Item, b: Item, bound: Fraction) -> bool:
    """|rate(a) - rate(b)| <= bound x max(rate(a), rate(b)), exactly."""
    x = a.value_tenge * b.days
    y = b.value_tenge * a.days
    return abs(x - y) * bound.denominator <= bound.numerator * max(x, y)


def participant_score(give: Item, receive: Item) -> float:
    x = give.value_tenge * receive.days
    y = receive.value_tenge * give.days
    top = max(x, y)
    return 1.0 - abs(x - y) / top if top else 1.0


def canonical(seats: Sequence[Seat]) -> tuple[Seat, ...]:
    start = min(range(len(seats)), key=lambda i: seats[i].user_id)
    return tuple(seats[start:]) + tuple(seats[:start])


class Market:
    """A snapshot of active items with their fits, ready to search."""

    def __init__(
        self, items: Iterable[Item], cities: Mapping[int, Iterable[str]], rules: Rules | None = None
    ):
        self.rules = rules or Rules()
        self.cities = {user: frozenset(c) for user, c in cities.items() if c}
        self.items: dict[int, Item] = {}
        self.offers: dict[int, list[Item]] = defaultdict(list)
        for item in sorted(items, key=lambda i: i.id):
            if item.user_id not in self.cities:
                continue  # a member without cities is never matched
            self.items[item.id] = item
            if item.item_type == "offer":
                self.offers[item.user_id].append(item)
        self.min_give = 1 - self.rules.min_score
        self._by_kind: dict[tuple[str, str, str], list[Item]] = defaultdict(list)
        self.wants: dict[int, list[Item]] = defaultdict(list)
        for item in self.items.values():
            self._by_kind[(item.item_type, item.exchange_type, item.category)].append(item)
            if item.item_type == "want":
                self.wants[item.user_id].append(item)
        self._rates: dict[tuple[str, str, str], list[float]] = {}
        for key, group in self._by_kind.items():
            group.sort(key=lambda i: (i.rate, i.id))
            self._rates[key] = [i.rate for i in group]
        # Fits are computed on demand and remembered: a re-match of one member touches only the
        # part of the market around them.
        self._fits: dict[int, dict[int, list[Item]]] = {}
        self._preds: dict[int, list[int]] = {}
        self._graph: dict[int, list[int]] | None = None
        self._preds_complete = False

    # --- fits

    def fits_want(self, offer: Item, want: Item) -> bool:
        return (
            offer.item_type == "offer"
            and want.item_type == "want"
            and offer.exchange_type == want.exchange_type
            and offer.category == want.category
            and offer.user_id != want.user_id
            and bool(self.cities.get(offer.user_id, frozenset()) & self.cities.get(want.user_id, frozenset()))
            and _within(offer, want, self.rules.tolerance)
        )

    def _window(self, item: Item, other_type: str) -> list[Item]:
        """Items of the other type, same exchange_type and category, whose value may fit."""
        key = (other_type, item.exchange_type, item.category)
        group = self._by_kind.get(key)
        if not group:
            return []
        # A float window with slack finds the candidates; the exact test decides. The fit rule
        # is symmetric, so one window serves both directions.
        low_share = float(1 - self.rules.tolerance)
        rate = item.rate
        lo = bisect.bisect_left(self._rates[key], rate * low_share * (1 - 1e-9))
        hi = bisect.bisect_right(
            self._rates[key], rate / low_share * (1 + 1e-9) if low_share else float("inf")
        )
        return group[lo:hi]

    def fits_of(self, offer: Item) -> dict[int, list[Item]]:
        """{user id -> [that user's wants this offer fits]}, users and wants in id order."""
        found = self._fits.get(offer.id)
        if found is None:
            by_user: dict[int, list[Item]] = {}
            for want in self._window(offer, "want"):
                if self.fits_want(offer, want):
                    by_user.setdefault(want.user_id, []).append(want)
            found = {u: sorted(ws, key=lambda w: w.id) for u, ws in sorted(by_user.items())}
            self._fits[offer.id] = found
        return found

    def predecessors(self, user: int) -> list[int]:
        """Members with an offer that fits one of this member's wants."""
        found = self._preds.get(user)
        if found is None and self._preds_complete:
            return []
        if found is None:
            owners = {
                offer.user_id
                for want in self.wants.get(user, ())
                for offer in self._window(want, "offer")
                if self.fits_want(offer, want)
            }
            found = self._preds[user] = sorted(owners)
        return found

    @property
    def graph(self) -> dict[int, list[int]]:
        """member -> the members their offers fit (the whole market: for full runs)."""
        if self._graph is None:
            self._graph = {
                user: sorted({v for offer in offers for v in self.fits_of(offer)})
                for user, offers in self.offers.items()
            }
        return self._graph

    def score_ok(self, give: Item, receive: Item) -> bool:
        return _within(give, receive, self.min_give)

    # --- checking a stored proposal

    def evaluate(self, seats: Sequence[Seat]) -> Proposal | None:
        """The proposal these seats make today, or None when they no longer fit."""
        n = len(seats)
        if not 2 <= n <= self.rules.max_chain or len({s.user_id for s in seats}) != n:
            return None
        offers, wants = [], []
        for seat in seats:
            offer, want = self.items.get(seat.offer_item_id), self.items.get(seat.want_item_id)
            if offer is None or want is None or offer.user_id != seat.user_id or want.user_id != seat.user_id:
                return None
            offers.append(offer)
            wants.append(want)
        for i in range(n):
            if not self.fits_want(offers[i], wants[(i + 1) % n]):
                return None
            if not self.score_ok(offers[i], offers[i - 1]):
                return None
        return self._proposal(seats, offers)

    def _proposal(self, seats: Sequence[Seat], offers: Sequence[Item]) -> Proposal:
        score = min(participant_score(offers[i], offers[i - 1]) for i in range(len(offers)))
        return Proposal(
            kind="pair" if len(seats) == 2 else "chain",
            exchange_type=offers[0].exchange_type,
            score=round(score, 6),
            seats=canonical(seats),
        )

    # --- the search

    def find(self, users: Iterable[int] | None = None) -> Result:
        """Every proposal (``users``: only those with at least one of these members)."""
        result = Result()
        if users is None:
            components = self._components()
            # The whole graph is known by now: its reverse serves the distances, instead of
            # computing every fit a second time from the wants' side.
            reverse: dict[int, list[int]] = defaultdict(list)
            for user in sorted(self.graph):
                for v in self.graph[user]:
                    reverse[v].append(user)
            self._preds = {v: sorted(us) for v, us in reverse.items()}
            self._preds_complete = True
            for start in sorted(self.graph):
                component = components.get(start)
                if component is None:
                    continue
                allowed = {u for u in component if u > start}
                if not self._search(start, allowed, result):
                    break
        else:
            # No components here: they need the whole market's fits, and the distances below
            # already confine the search to members that can close a cycle with ``start``.
            done: set[int] = set()
            for start in sorted(set(users)):
                if not self._search(start, None, result, exclude=done | {start}):
                    break
                done.add(start)
        result.proposals.sort(key=lambda p: (p.exchange_type, len(p.seats), p.seats))
        return result

    def _components(self) -> dict[int, frozenset[int]]:
        """Member -> its strongly connected component, for members in one of two or more
        (iterative Tarjan)."""
        index: dict[int, int] = {}
        low: dict[int, int] = {}
        on_stack: set[int] = set()
        stack: list[int] = []
        out: dict[int, frozenset[int]] = {}
        counter = 0
        for root in sorted(self.graph):
            if root in index:
                continue
            work = [(root, 0)]
            while work:
                node, i = work.pop()
                if i == 0:
                    index[node] = low[node] = counter
                    counter += 1
                    stack.append(node)
                    on_stack.add(node)
                recurse = False
                edges = self.graph.get(node, [])
                while i < len(edges):
                    nxt = edges[i]
                    i += 1
                    if nxt not in index:
                        work.append((node, i))
                        work.append((nxt, 0))
                        recurse = True
                        break
                    if nxt in on_stack:
                        low[node] = min(low[node], index[nxt])
                if recurse:
                    continue
                if low[node] == index[node]:
                    members = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        members.append(top)
                        if top == node:
                            break
                    if len(members) > 1:
                        frozen = frozenset(members)
                        for m in members:
                            out[m] = frozen
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
        return out

    def _distances_to(self, start: int, allowed: set[int] | None, exclude: set[int]) -> dict[int, int]:
        """Edges needed from each member back to ``start`` (within the length bound), over
        members in ``allowed`` (None: anyone not in ``exclude``)."""
        dist = {start: 0}
        queue = deque([start])
        limit = self.rules.max_chain - 1
        while queue:
            v = queue.popleft()
            if dist[v] >= limit:
                continue
            for u in self.predecessors(v):
                if u in dist or u in exclude or (allowed is not None and u not in allowed):
                    continue
                dist[u] = dist[v] + 1
                queue.append(u)
        return dist

    def _search(
        self,
        start: int,
        allowed: set[int] | None,
        result: Result,
        exclude: frozenset[int] | set[int] = frozenset(),
    ) -> bool:
        """Cycles through ``start`` and members of ``allowed`` (None: anyone not in ``exclude``);
        False once a bound is hit."""
        dist = self._distances_to(start, allowed, set(exclude))
        max_len = self.rules.max_chain
        seats: list[tuple[int, Item, Item | None]] = []  # (user, offer, want); want of seat 0 set on closing
        in_path = {start}

        def extend(first_offer: Item, prev_offer: Item) -> bool:
            result.steps += 1
            if result.steps > self.rules.max_steps:
                result.truncated = True
                return False
            k = len(seats)
            targets = self.fits_of(prev_offer)
            closing = targets.get(start)
            if closing and k >= 2 and self.score_ok(first_offer, prev_offer):
                for want in closing:
                    chain = [Seat(start, first_offer.id, want.id)]
                    chain += [Seat(u, o.id, w.id) for u, o, w in seats[1:] if w is not None]
                    offers = [first_offer] + [o for _, o, _ in seats[1:]]
                    result.proposals.append(self._proposal(chain, offers))
                    if len(result.proposals) >= self.rules.max_cycles:
                        result.truncated = True
                        return False
            if k >= max_len:
                return True
            for user, wants in targets.items():
                if user == start or user in in_path:
                    continue
                # dist holds only allowed members that can get back to start in time.
                if dist.get(user, max_len) > max_len - k:
                    continue
                for offer in self.offers.get(user, ()):
                    if offer.exchange_type != prev_offer.exchange_type or not self.score_ok(
                        offer, prev_offer
                    ):
                        continue
                    in_path.add(user)
                    for want in wants:
                        seats.append((user, offer, want))
                        going = extend(first_offer, offer)
                        seats.pop()
                        if not going:
                            in_path.discard(user)
                            return False
                    in_path.discard(user)
            return True

        for first in self.offers.get(start, ()):
            seats.append((start, first, None))
            going = extend(first, first)
            seats.pop()
            if not going:
                return False
        return True
