"""The engine on the demo seeds: what a storefront sees at each click."""

from __future__ import annotations

import itertools
import json

from test_catalog_oracle import load_seed

from ecrm.catalog.engine import Change, default_selection, evaluate, parse_product, price_selection

CAR = parse_product(load_seed("car"))
SHOE = parse_product(load_seed("shoe"))


def _car(**choices: object) -> dict[str, object]:
    return {**default_selection(CAR), **{k.replace("_", "-"): v for k, v in choices.items()}}


def test_default_car_is_valid_and_costs_the_base_price() -> None:
    result = evaluate(CAR, default_selection(CAR))
    assert (result.valid, result.complete, result.consistent) == (True, True, True)
    assert result.violations == ()
    assert result.price.total == CAR.base_price == 2890000
    assert result.repair == []
    # Greyed out: the GT needs another engine, matte paint needs the GT, a cable needs the electric drive.
    assert "gt" not in result.selectable["model"]
    assert "matte-grey" not in result.selectable["colour"]
    assert result.selectable["charging-cable"] == []
    assert "electric" not in result.selectable["engine"]  # the customer chose the manual gearbox
    assert result.selectable["packs"] == ["winter", "tech", "tow", "panorama"]  # sport needs 18" wheels


def test_single_groups_may_switch_to_any_selectable_option() -> None:
    result = evaluate(CAR, {"engine": "electric"})
    assert result.consistent and not result.valid
    assert result.selectable["transmission"] == ["auto"]
    assert result.selectable["engine"] == ["petrol-1-5", "petrol-2-0", "diesel-2-0", "electric"]
    assert "16-steel" not in result.selectable["wheels"]
    assert {v.rule_id for v in result.violations} >= {"required", "ev-cable", "ev-automatic"}


def test_gt_with_the_small_engine_is_repaired_by_changing_one_choice() -> None:
    result = evaluate(CAR, _car(model="gt"))
    assert not result.valid and result.consistent is False
    assert {v.rule_id for v in result.violations} == {"gt-engines", "gt-big-wheels", "gt-seats"}
    # Undoing the GT (one choice) beats changing engine, wheels and seats (three).
    assert result.repair == [Change("model", "gt", "hatch")]


def test_incomplete_selection_is_completed_with_defaults() -> None:
    result = evaluate(CAR, {"model": "estate", "packs": ["tow"]})
    assert result.consistent and not result.complete
    assert result.repair is not None
    filled = {c.group: c.after for c in result.repair}
    assert filled == {
        "engine": "petrol-1-5",
        "transmission": "manual",
        "colour": "white",
        "wheels": "17-alloy",
        "interior": "cloth",
    }
    assert all(c.before is None for c in result.repair)


def test_electric_needs_a_cable_and_repair_adds_one() -> None:
    result = evaluate(CAR, _car(engine="electric", transmission="auto"))
    assert [v.rule_id for v in result.violations] == ["ev-cable"]
    assert result.repair == [Change("charging-cable", None, "type2-11kw")]


def test_conditional_prices_replace_the_option_price() -> None:
    sel = _car(
        engine="electric",
        transmission="auto",
        packs=["winter", "sport"],
        wheels="19-sport",
        charging_cable="type2-22kw",
    )
    price = evaluate(CAR, sel).price
    amounts = {(line.group, line.option): line.amount for line in price.lines}
    assert amounts[("packs", "winter")] == 25000  # heat pump: not 45000
    assert amounts[("wheels", "19-sport")] == 120000  # with the sport pack: not 180000
    assert amounts[("engine", "electric")] == 950000
    assert price.total == price.base + sum(amounts.values())
    assert price == price_selection(CAR, sel)
    # Without the electric drive, the winter pack is at its own price again.
    plain = evaluate(CAR, _car(packs=["winter"])).price
    assert {(line.group, line.option): line.amount for line in plain.lines}[("packs", "winter")] == 45000


def test_price_lines_follow_the_model_not_the_click_order() -> None:
    packs = ["winter", "tech", "tow", "panorama"]
    results = {
        json.dumps(evaluate(CAR, _car(model="estate", packs=list(order))).to_dict(), sort_keys=True)
        for order in itertools.permutations(packs)
    }
    assert len(results) == 1
    lines = evaluate(CAR, _car(model="estate", packs=["tow", "winter"])).price.lines
    assert [line.option for line in lines if line.group == "packs"] == ["winter", "tow"]


def test_to_dict_is_json_ready() -> None:
    result = evaluate(SHOE, {"size": "46", "upper": "leather", "monogram": "Zoë", "extras": ["insoles"]})
    body = result.to_dict()
    assert json.loads(json.dumps(body)) == body
    assert body["price"]["lines"][0] == {
        "group": "size",
        "option": "46",
        "label": "Size: 46 EU",
        "amount": 1500,
    }


def test_shoe_sizes_and_widths() -> None:
    narrow = evaluate(SHOE, {"width": "narrow"})
    assert narrow.ranges["size"] == [("36", "45")]
    wide = evaluate(SHOE, {"width": "wide"})
    assert wide.ranges["size"] == [("38", "47")]
    big = evaluate(SHOE, {"size": "46.5"})
    assert big.selectable["width"] == ["regular", "wide"]
    assert [line.amount for line in big.price.lines if line.group == "size"] == [1500]
    small = evaluate(SHOE, {"size": "45.5"})
    assert [line.amount for line in small.price.lines if line.group == "size"] == [0]


def test_monogram_rules_and_prices() -> None:
    on_mesh = evaluate(SHOE, {**default_selection(SHOE), "size": "40", "monogram": "AB"})
    assert [v.rule_id for v in on_mesh.violations] == ["monogram-material"]
    assert on_mesh.fillable["monogram"] is False  # not with the mesh upper the customer chose
    assert on_mesh.selectable["upper"] == ["leather"]  # suede is not dyed chalk white
    assert on_mesh.repair == [Change("upper", "mesh", "leather")]
    on_leather = evaluate(
        SHOE, {**default_selection(SHOE), "size": "40", "upper": "leather", "monogram": "AB"}
    )
    assert on_leather.valid
    assert [line.amount for line in on_leather.price.lines if line.group == "monogram"] == [
        0
    ]  # free on leather
    on_suede = evaluate(
        SHOE,
        {**default_selection(SHOE), "size": "40", "upper": "suede", "monogram": "AB", "upper-colour": "navy"},
    )
    assert on_suede.valid
    assert [line.amount for line in on_suede.price.lines if line.group == "monogram"] == [900]


def test_negative_option_prices_stay_exact() -> None:
    sel = {**default_selection(SHOE), "size": "40", "upper": "recycled-knit"}
    result = evaluate(SHOE, sel)
    assert result.valid
    assert result.price.total == SHOE.base_price - 1000  # cheaper still on the everyday sole
    trail = evaluate(SHOE, {**sel, "sole": "trail", "sole-colour": "gum"})
    assert trail.price.total == SHOE.base_price - 500 + 1500 + 500


def test_fast_path_skips_the_search() -> None:
    result = evaluate(CAR, _car(model="gt"), full=False)
    assert not result.valid and result.consistent is None
    assert result.selectable == {} and result.repair is None
    assert evaluate(CAR, default_selection(CAR), full=False).consistent is True


def test_text_that_must_be_entered_is_flagged_for_input() -> None:
    doc = load_seed("shoe")
    doc["rules"].append(
        {
            "id": "leather-monogram",
            "kind": "conditional_requirement",
            "message": "Leather uppers come with a monogram.",
            "if": {"group": "upper", "option": "leather"},
            "then": {"group": "monogram"},
        }
    )
    model = parse_product(doc)
    result = evaluate(model, {**default_selection(model), "size": "40", "upper": "leather"})
    assert [v.rule_id for v in result.violations] == ["leather-monogram"]
    assert result.repair == [Change("monogram", None, None, input_required=True)]
