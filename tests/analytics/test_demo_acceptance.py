"""Acceptance: run_report on the seeded demo reproduces the published INO-CD22 table (Cancer 2025 abstract)."""

import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db  # ordered with the database tests, before any transactional flush


@pytest.fixture(scope="module")
def demo_results(django_db_setup, django_db_blocker, tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "results.json"
    with django_db_blocker.unblock():
        from django.db import transaction

        # seed and run inside a transaction that is rolled back: other tests start from empty tables
        with transaction.atomic():
            call_command("seed_demo", verbosity=0)
            call_command("run_report", "--cutoff", "2025-01-01", "--json", str(path))
            transaction.set_rollback(True)
    return json.loads(path.read_text())


def test_counts_are_exactly_the_published_ones(demo_results):
    r = demo_results
    assert (r["n_patients"], r["n_centers"]) == (73, 24)
    response = r["response"]
    assert (response["orr"]["n"], response["cr"]["n"], response["cri"]["n"]) == (54, 51, 3)
    assert (r["hsct"]["n"], r["vod_sos"]["n"]) == (27, 8)
    assert r["baseline"]["prior_blinatumomab"]["n"] == 42
    assert r["baseline"]["prior_induction_chemo"]["n"] == 62
    assert round(response["orr"]["pct"], 1) == 74.0 and round(response["cri"]["pct"], 1) == 4.1
    assert round(r["vod_sos"]["pct"], 1) == 11.0 and round(r["baseline"]["prior_blinatumomab"]["pct"], 1) == 57.5


def test_exact_intervals_match_domain_md(demo_results):
    response = demo_results["response"]
    for entry, (low, high) in ((response["orr"], (62.4, 83.6)), (response["cr"], (58.0, 80.1)),
                               (response["cri"], (0.9, 11.5)), (demo_results["vod_sos"], (4.9, 20.5)),
                               (demo_results["hsct"], (26.0, 49.1))):
        assert entry["ci_low"] == pytest.approx(low, abs=0.06)
        assert entry["ci_high"] == pytest.approx(high, abs=0.06)


def test_survival_reproduces_the_abstract(demo_results):
    os_ = demo_results["overall_survival"]
    assert round(os_["median_months"], 1) == 7.9
    assert os_["ci_low"] == pytest.approx(6.08, abs=0.1) and os_["ci_high"] == pytest.approx(12.42, abs=0.1)
    three = os_["at_months"]["36"]
    assert three["pct"] == pytest.approx(21.2, abs=0.5)
    assert three["ci_low"] == pytest.approx(11.9, abs=0.5) and three["ci_high"] == pytest.approx(32.3, abs=0.5)
    five = os_["at_months"]["60"]
    assert five["estimable"] and five["ci_low"] <= five["pct"] <= five["ci_high"]  # unlike the abstract's
    assert demo_results["follow_up"]["median_months"] == pytest.approx(37.2, abs=1.0)
    dor = demo_results["duration_of_response"]
    assert dor["median_months"] == pytest.approx(4.4, abs=0.1)
    assert dor["q1_months"] == pytest.approx(2.3, abs=0.2) and dor["q3_months"] == pytest.approx(11.2, abs=0.3)


def test_baseline_reproduces_the_abstract(demo_results):
    base = demo_results["baseline"]
    assert [round(base["age_years"][k], 1) for k in ("median", "q1", "q3")] == [52.7, 51.9, 53.5]
    assert [base["prior_lines"][k] for k in ("median", "q1", "q3")] == [3, 2, 4]


def test_safety_lists_liver_toxicity_pneumonia_and_the_grade_5(demo_results):
    safety = demo_results["safety"]
    terms = [entry["term"] for entry in safety["grade3plus_nonhematologic"]]
    assert "Lung infection" in terms[:2]
    lung = next(e for e in safety["grade3plus_nonhematologic"] if e["term"] == "Lung infection")
    assert (lung["grade_4"], lung["grade_5"]) == (2, 1)
    assert [entry["term"] for entry in safety["grade5"]] == ["Lung infection"]


def test_the_demos_missing_answers_are_counted_per_question(demo_results):
    """The demo's coded answers (none in a published figure) are in the missing-data section."""
    counted = {(entry["form"], entry["variable"]): entry for entry in demo_results["missing_codes"]}
    assert set(counted) == {("Baseline disease", "cd22_expression_pct"), ("Baseline disease", "ecog"),
                            ("Response assessments", "marrow_blasts_pct"), ("Allogeneic HSCT after IO", "tbi"),
                            ("Adverse events", "resolution_date")}
    assert counted[("Baseline disease", "cd22_expression_pct")] | {"label": ""} == {
        "form": "Baseline disease", "variable": "cd22_expression_pct", "label": "", "counted_in": "patients",
        "UNK": 3, "ND": 0, "NA": 0, "patients": 3}
    assert (counted[("Baseline disease", "ecog")]["ND"], counted[("Allogeneic HSCT after IO", "tbi")]["UNK"]) == (2, 1)
    resolution = counted[("Adverse events", "resolution_date")]
    assert (resolution["counted_in"], resolution["UNK"]) == ("rows", 2)
    marrow = counted[("Response assessments", "marrow_blasts_pct")]
    assert marrow["counted_in"] == "rows" and marrow["ND"] >= 2
    ecog = demo_results["baseline"]["ecog_2_or_more"]
    assert (ecog["total"], ecog["missing"]) == (71, 2)  # ECOG >= 2 among the patients whose ECOG is known
