from eval.claims import split_claims
from eval.lexical_check import check_support, negation_mismatch
from rag.text import names, numbers

SOURCE = (
    "The D. P. R. K. 's system of political repression includes forced labor in a network of prison camps, "
    "where an estimated 150,000 to 200,000 persons are incarcerated and subjected to reeducation through labor "
    "by logging, mining, and tending crops."
)


def test_split_claims_reads_markers_and_strips_them():
    claims = split_claims("Inmates log and mine [2]. They tend crops [1, 3]. No marker here.")
    assert [(c.text, c.cited) for c in claims] == [
        ("Inmates log and mine.", (2,)),
        ("They tend crops.", (1, 3)),
        ("No marker here.", ()),
    ]


def test_numbers_ignore_separators():
    assert numbers("150,000 to 200,000 in 2007.") == {"150000", "200000", "2007"}


def test_names_skip_the_sentence_opener():
    assert names("The Czech Ministry ended it in January.") == {"czech ministry", "january"}


def test_supported_paraphrase_passes():
    assert check_support("An estimated 150,000 to 200,000 persons are held in prison camps.", SOURCE).supported


def test_wrong_number_fails():
    result = check_support("An estimated 250,000 persons are incarcerated in prison camps.", SOURCE)
    assert not result.supported and result.missing_numbers == ("250000",)


def test_name_not_in_source_fails_unless_known():
    assert not check_support("Prison camps in China hold persons doing logging.", SOURCE).supported
    claim = "North Korea runs prison camps with logging and mining."
    assert not check_support(claim, SOURCE).supported
    assert check_support(claim, SOURCE, known_names=frozenset({"north korea"})).supported


def test_flipped_negation_fails_both_ways():
    source = "However, there were no reported prosecutions or convictions during the reporting period."
    assert not check_support("There were reported prosecutions during the reporting period.", source).supported
    assert check_support("There were no reported prosecutions during the reporting period.", source).supported
    assert negation_mismatch("North Korea has ratified the protocol.", "North Korea has not ratified the protocol.")
    assert negation_mismatch("There is no forced labor in camps.", "Camps use forced labor.")
    assert not negation_mismatch("Prosecutions were not reported.", "There were no reported prosecutions.")
    # A negation after a clause boundary says nothing about what came before it.
    assert negation_mismatch("It fully complies, and is not making efforts.", "It does not fully comply.")


def test_unrelated_claim_fails_on_overlap():
    assert not check_support("The capital city is large and modern.", SOURCE).supported
