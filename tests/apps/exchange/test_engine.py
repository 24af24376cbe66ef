"""The matching engine on its own: pure, fast, run once (no database)."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basis.apps.exchange.engine import Item, Market, Rules, Seat

ALMATY, ASTANA, SHYMKENT = "Алматы", "Астана", "Шымкент"


def offer(
    id: int,
    user: int,
    value: int,
    category: str = "bicycles",
    kind: str = "permanent",
    days: int | None = None,
) -> Item:
    return Item(id, user, "offer", category, kind, value, days)


def want(
    id: int,
    user: int,
    value: int,
    category: str = "bicycles",
    kind: str = "permanent",
    days: int | None = None,
) -> Item:
    return Item(id, user, "want", category, kind, value, days)


def everywhere(*users: int) -> dict[int, list[str]]:
    return {u: [ALMATY] for u in users}


def test_a_pair_is_two_fits_that_close_a_swap() -> None:
    market = Market(
        [
            offer(1, 1, 1000, "books"),
            want(2, 1, 1000, "tools"),
            offer(3, 2, 900, "tools"),
            want(4, 2, 950, "books"),
        ],
        everywhere(1, 2),
    )
    [pair] = market.find().proposals
    assert pair.kind == "pair"
    assert pair.seats == (Seat(1, 1, 2), Seat(2, 3, 4))
    assert pair.score == 0.9  # 1 - |1000 - 900| / 1000


def test_the_tolerance_bound_is_inclusive_and_exact() -> None:
    # 15 % of 1000 is 150: 850 fits, 849 does not.
    on_bound = Market([offer(1, 1, 850), want(2, 2, 1000)], everywhere(1, 2))
    past_bound = Market([offer(1, 1, 849), want(2, 2, 1000)], everywhere(1, 2))
    assert on_bound.fits_want(on_bound.items[1], on_bound.items[2])
    assert not past_bound.fits_want(past_bound.items[1], past_bound.items[2])


def test_the_score_bound_is_inclusive() -> None:
    # Offers 1000 and 700 score exactly 0.70; wants sit between them so both fits hold.
    def market(low: int) -> Market:
        return Market(
            [offer(1, 1, 1000, "a"), want(2, 1, low, "b"), offer(3, 2, low, "b"), want(4, 2, 1000, "a")],
            everywhere(1, 2),
        )

    assert [p.score for p in market(700).find().proposals] == [0.7]
    assert market(699).find().proposals == []


def test_no_fit_without_a_shared_city_or_across_types_or_with_oneself() -> None:
    items = [offer(1, 1, 100, "a"), want(2, 1, 100, "b"), offer(3, 2, 100, "b"), want(4, 2, 100, "a")]
    assert Market(items, {1: [ALMATY], 2: [ASTANA]}).find().proposals == []
    assert len(Market(items, {1: [ALMATY, SHYMKENT], 2: [SHYMKENT]}).find().proposals) == 1
    assert Market(items, {1: [ALMATY]}).find().proposals == []  # user 2 has no cities
    mixed = [
        offer(1, 1, 100, "a"),
        want(2, 1, 100, "b", "temporary", 1),
        offer(3, 2, 100, "b", "temporary", 1),
        want(4, 2, 100, "a"),
    ]
    assert Market(mixed, everywhere(1, 2)).find().proposals == []
    alone = Market([offer(1, 1, 100), want(2, 1, 100)], everywhere(1))
    assert not alone.fits_want(alone.items[1], alone.items[2])


def test_temporary_items_compare_per_day() -> None:
    # 7,000 for 7 days (1,000/day) fits 30,000 for 30 days (1,000/day), not 7,000 for 30 days.
    items = [
        offer(1, 1, 7000, "bicycles", "temporary", 7),
        want(2, 1, 30000, "tools", "temporary", 30),
        offer(3, 2, 30000, "tools", "temporary", 30),
        want(4, 2, 7000, "bicycles", "temporary", 7),
    ]
    [pair] = Market(items, everywhere(1, 2)).find().proposals
    assert pair.exchange_type == "temporary" and pair.score == 1.0
    cheap = [*items[:3], want(4, 2, 7000, "bicycles", "temporary", 30)]
    assert Market(cheap, everywhere(1, 2)).find().proposals == []


def ring(n: int, value: int = 1000) -> list[Item]:
    """n members, member i offers category c{i} and wants category c{i-1}: one cycle of n."""
    items: list[Item] = []
    for user in range(1, n + 1):
        items.append(offer(user * 10, user, value, f"c{user}"))
        items.append(want(user * 10 + 1, user, value, f"c{(user - 2) % n + 1}"))
    return items


def test_a_chain_of_three_to_ten() -> None:
    for n in (3, 7, 10):
        [chain] = Market(ring(n), everywhere(*range(1, n + 1))).find().proposals
        assert chain.kind == "chain" and len(chain.seats) == n
        assert chain.user_ids == tuple(range(1, n + 1))


def test_no_chain_longer_than_the_bound() -> None:
    assert Market(ring(11), everywhere(*range(1, 12))).find().proposals == []
    rules = Rules(max_chain=5)
    assert Market(ring(6), everywhere(*range(1, 7)), rules).find().proposals == []
    assert len(Market(ring(5), everywhere(*range(1, 6)), rules).find().proposals) == 1


def test_a_chain_scores_its_weakest_participant() -> None:
    items = ring(3)
    items[2] = offer(20, 2, 850, "c2")  # member 2 gives 850 for 1000: 0.85; member 3 receives 850 for 1000
    items[5] = want(31, 3, 900, "c2")
    [chain] = Market(items, everywhere(1, 2, 3)).find().proposals
    assert chain.score == 0.85


def test_focus_finds_only_proposals_with_those_members() -> None:
    items = [
        *ring(3),
        *[
            Item(i.id + 1000, i.user_id + 10, i.item_type, i.category + "x", i.exchange_type, i.value_tenge)
            for i in ring(3)
        ],
    ]
    market = Market(items, everywhere(1, 2, 3, 11, 12, 13))
    assert len(market.find().proposals) == 2
    [mine] = market.find([2]).proposals
    assert mine.user_ids == (1, 2, 3)
    assert len(market.find([2, 3, 12]).proposals) == 2


def test_same_input_same_output() -> None:
    items = [*ring(4), offer(100, 1, 1000, "c1"), want(101, 3, 1050, "c3")]
    shuffled = list(reversed(items))
    a = Market(items, everywhere(1, 2, 3, 4)).find().proposals
    b = Market(shuffled, everywhere(4, 3, 2, 1)).find().proposals
    assert a == b and [p.combination for p in a] == [p.combination for p in b]


def test_evaluate_says_when_a_stored_proposal_stops_fitting() -> None:
    market = Market(ring(3), everywhere(1, 2, 3))
    [chain] = market.find().proposals
    assert market.evaluate(chain.seats) == chain
    changed = [i if i.id != 20 else offer(20, 2, 500, "c2") for i in ring(3)]
    assert Market(changed, everywhere(1, 2, 3)).evaluate(chain.seats) is None
    archived = [i for i in ring(3) if i.id != 31]
    assert Market(archived, everywhere(1, 2, 3)).evaluate(chain.seats) is None


def test_the_cycle_bound_truncates_instead_of_running_away() -> None:
    result = Market(ring(3), everywhere(1, 2, 3), Rules(max_cycles=1)).find()
    assert len(result.proposals) == 1 and result.truncated


# --- properties against brute force


def _fits(o: Item, w: Item, cities: dict[int, list[str]], tol: Fraction) -> bool:
    if (o.exchange_type, o.category) != (w.exchange_type, w.category) or o.user_id == w.user_id:
        return False
    if not set(cities.get(o.user_id, [])) & set(cities.get(w.user_id, [])):
        return False
    a = Fraction(o.value_tenge, o.duration_days or 1)
    b = Fraction(w.value_tenge, w.duration_days or 1)
    return abs(a - b) <= tol * max(a, b)


def _score(give: Item, receive: Item) -> Fraction:
    a = Fraction(give.value_tenge, give.duration_days or 1)
    b = Fraction(receive.value_tenge, receive.duration_days or 1)
    return 1 - abs(a - b) / max(a, b)


def brute_force(items: list[Item], cities: dict[int, list[str]], rules: Rules) -> set[tuple[Seat, ...]]:
    users = sorted({i.user_id for i in items if cities.get(i.user_id)})
    offers = {u: [i for i in items if i.user_id == u and i.item_type == "offer"] for u in users}
    wants = {u: [i for i in items if i.user_id == u and i.item_type == "want"] for u in users}
    found: set[tuple[Seat, ...]] = set()
    for n in range(2, min(rules.max_chain, len(users)) + 1):
        for order in itertools.permutations(users, n):
            if order[0] != min(order):
                continue
            for choice in itertools.product(*[itertools.product(offers[u], wants[u]) for u in order]):
                # permanent and temporary never mix, not even across two fits
                ok = len({i.exchange_type for pair in choice for i in pair}) == 1 and all(
                    _fits(choice[k][0], choice[(k + 1) % n][1], cities, rules.tolerance)
                    and _score(choice[k][0], choice[k - 1][0]) >= rules.min_score
                    for k in range(n)
                )
                if ok:
                    found.add(tuple(Seat(u, o.id, w.id) for u, (o, w) in zip(order, choice, strict=True)))
    return found


@st.composite
def markets(draw: st.DrawFn) -> tuple[list[Item], dict[int, list[str]]]:
    n_users = draw(st.integers(2, 5))
    cities = {
        u: draw(st.lists(st.sampled_from([ALMATY, ASTANA, SHYMKENT]), max_size=2, unique=True))
        for u in range(1, n_users + 1)
    }
    cities[1] = cities[1] or [ALMATY]
    items: list[Item] = []
    for u in range(1, n_users + 1):
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["permanent", "permanent", "temporary"]))
            days = draw(st.integers(1, 3)) if kind == "temporary" else None
            items.append(
                Item(
                    len(items) + 1,
                    u,
                    draw(st.sampled_from(["want", "offer"])),
                    draw(st.sampled_from(["a", "b"])),
                    kind,
                    draw(st.sampled_from([70, 80, 85, 90, 100, 115, 120, 150])) * (days or 1),
                    days,
                )
            )
    return items, cities


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets())
def test_every_proposal_and_no_other_matches_brute_force(
    market: tuple[list[Item], dict[int, list[str]]],
) -> None:
    items, cities = market
    rules = Rules(max_chain=5)
    engine = Market(items, cities, rules)
    proposals = engine.find().proposals
    assert {p.seats for p in proposals} == brute_force(items, cities, rules)
    for p in proposals:
        assert len(set(p.user_ids)) == len(p.seats)  # no member twice
        assert p.score >= 0.7
        assert p.kind == ("pair" if len(p.seats) == 2 else "chain")
        assert engine.evaluate(p.seats) == p
    assert len({p.combination for p in proposals}) == len(proposals)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.sets(st.integers(1, 5), max_size=3))
def test_focus_is_the_whole_search_restricted_to_those_members(
    market: tuple[list[Item], dict[int, list[str]]], focus: set[int]
) -> None:
    items, cities = market
    engine = Market(items, cities, Rules(max_chain=5))
    everything = engine.find().proposals
    assert engine.find(focus).proposals == [p for p in everything if set(p.user_ids) & focus]
