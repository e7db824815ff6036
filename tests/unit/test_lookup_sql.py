"""The lookup's SQL keeps the longitude out of the index's conditions and reads the rows of
the usual reach in a box of their own (``_ranked_sql``)."""

from pathlib import Path

from services.matching import storage


def test_the_sited_lookup_filters_the_longitude_rather_than_seeking_it_in_the_index() -> None:
    """Against 100,000 open listings, PostgreSQL 18 priced the lookup index with the
    longitude's range as a condition after the latitude's (a skip scan) above reading the
    whole primary key index or the whole table, and chose those: 61 ms and 188 ms where the
    index takes 0.2 ms and 1.2 ms. The plan needs that many rows to go wrong, more than a
    test can load, so the SQL is held to its form here and the plans are in the
    benchmark (``benchmarks/matching_index.py``)."""
    sited = [sql for (_, site, _), (sql, _) in storage._RANKED.items() if site != "none"]
    assert sited
    for sql in sited:
        assert "k.longitude + 0 BETWEEN" in sql
        assert "k.longitude BETWEEN" not in sql
        assert "k.latitude BETWEEN" in sql  # the latitude's range stays the index's


def test_a_lookup_reaching_farther_reads_the_rows_of_the_usual_reach_in_a_smaller_box() -> None:
    """A need that sets no distance keeps a reach of 1,000 km, and read every offer of its
    keys in the country (issue 19). A pair is never farther apart than the nearer of the two
    reaches, so the rows whose reach is ``NEAR_KM`` or less are read in a box of that size,
    and only the rows that reach farther in the whole box."""
    far = [sql for (_, site, _), (sql, _) in storage._RANKED.items() if site == "far"]
    assert far
    for sql in far:
        assert f"AND k.reach_km <= {storage.NEAR_KM}" in sql
        assert "k.latitude BETWEEN $" in sql  # the whole box, for the far rows
        assert sql.count("k.latitude BETWEEN") == 2
        assert f"AND {storage.FAR_ROWS}" in sql
    for (_, site, _), (sql, _) in storage._RANKED.items():
        if site != "far":
            assert storage.FAR_ROWS not in sql
            assert f"k.reach_km <= {storage.NEAR_KM}" not in sql


def test_the_far_rows_are_those_of_the_partial_index_word_for_word() -> None:
    """PostgreSQL reads a partial index only for a query whose conditions imply its
    predicate; the lookup repeats the migration's predicate, so that it always can."""
    migration = Path(storage.__file__).parent / "migrations" / "0014_far_reach_index.sql"
    predicate = migration.read_text().split("WHERE", 1)[1].strip().rstrip(";")
    assert f"({predicate})" == storage.FAR_ROWS.replace("k.", "")


def test_a_lookup_cuts_its_rows_to_a_page_per_key_before_it_drops_the_repeated_ones() -> None:
    """A counterpart that shares several keys with the listing comes once per key, each
    time with the same bound, so the first page's rows are among the first ``limit`` times
    the keys of them. The lookup keeps those (a bounded heap) before it drops the repeats,
    where it sorted every row within reach to drop them first (about a tenth of the CPU of
    the slowest probes in ``benchmarks/matching_index.py``)."""
    for sql, _ in storage._RANKED.values():
        distinct, cut = sql.index("SELECT DISTINCT *"), sql.index("LIMIT $")
        assert distinct < cut  # the repeats go from the rows the inner LIMIT kept
        assert "* cardinality($" in sql[cut : cut + 40]
        assert sql.count("SELECT DISTINCT") == 1
        assert "DISTINCT listing_id" not in sql
