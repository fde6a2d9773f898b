"""The claim contract: every claim of every paper fails on the numbers it must reject and holds on
numbers like the paper's, both declared next to the claim (Claim.must_fail, Claim.must_hold).

A claim that nothing can make fail checks nothing, so a claim with no failing case fails here.
Adding a paper adds its claims and their cases to its own package; this file does not change.
"""

import pandas as pd
import pytest

from robustrepro.papers import all_papers
from robustrepro.papers.spec import Claim

CLAIMS = {f"{paper.slug}/{claim.name}": claim for paper in all_papers() for claim in paper.claims}


def broken(claim: Claim, failing: list, holding: list) -> list[str]:
    """What is wrong with a claim against its cases: no failing case, no holding case, a failing case
    it accepts, a holding case it rejects, or evidence that says nothing."""
    problems = [] if failing else ["no failing case: give the Claim must_fail=(...) built from the paper's sentence"]
    problems += [] if holding else ["no holding case: give the Claim must_hold=(...) with numbers like the paper's"]
    for expected, cases in ((False, failing), (True, holding)):
        for i, build in enumerate(cases):
            holds, evidence = claim.evaluate(*build())
            if holds is not expected:
                problems.append(f"{'failing' if expected is False else 'holding'} case {i} "
                                f"{'holds' if holds else 'fails'} ({evidence})")
            if not (isinstance(evidence, str) and evidence):
                problems.append(f"case {i} gives no evidence ({evidence!r})")
    return problems


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_claim_fails_on_what_contradicts_it_and_holds_on_numbers_like_the_papers(name):
    claim = CLAIMS[name]
    assert not broken(claim, claim.must_fail, claim.must_hold), name


EMPTY = lambda: ({"g": pd.DataFrame({"x": [0.5]})},)  # noqa: E731


def test_the_contract_rejects_a_claim_that_cannot_fail():
    always = Claim("always", "anything", lambda results: (True, "holds"), must_fail=(EMPTY,), must_hold=(EMPTY,))
    assert broken(always, always.must_fail, always.must_hold) == ["failing case 0 holds (holds)"]


def test_the_contract_rejects_a_claim_without_cases_or_evidence():
    bare = Claim("bare", "anything", lambda results: (False, ""))
    assert broken(bare, [], []) == [
        "no failing case: give the Claim must_fail=(...) built from the paper's sentence",
        "no holding case: give the Claim must_hold=(...) with numbers like the paper's"]
    assert broken(bare, [EMPTY], [])[-1] == "case 0 gives no evidence ('')"


def test_a_claim_that_reads_histories_says_so_when_none_are_given():
    claim = Claim("reads", "reads histories", lambda results, histories: (True, ""), histories=("g",))
    with pytest.raises(ValueError, match="histories of g"):
        claim.evaluate({"g": pd.DataFrame()})
