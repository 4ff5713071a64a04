"""Where `classify --engine duckdb|spark` runs its queries.

Each export is loaded once as a table of text columns (only the columns the rules read), with
`__lc_row`: the row's 0-based place in the file, so that the checks name rows as classify does
and ties are broken by the later row. A query's result comes back as a Polars table: the
per-contact decisions, which the report, the gates and the output are made from, and the small
tables of the checks.

DuckDB runs in the process, in memory. Spark runs in local mode (`local[*]`), on a cluster with
`--spark-master URL`, or on the session `spark-submit` started; it reads the files itself, so on
a cluster they must be where every executor can read them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import polars as pl

from ..base.errors import InputError, LifecycleError
from ..rules.definitions import TABLE_NAME, TABLE_NAME_EXPECTED, sql_identifier, sql_string
from .sources import Source

#: The engines `classify --engine` runs on; polars is the embedded default.
ENGINES = ("polars", "duckdb", "spark")
#: The column each loaded table numbers its rows with, in file order from 0.
ROW_COLUMN = "__lc_row"


class Engine:
    """An engine's connection: load the exports, run queries, read results back."""

    name = ""
    dialect = ""

    def __init__(self) -> None:
        self._scratch: Path | None = None

    def load(self, table: str, source: Source, columns: list[str]) -> None:
        raise NotImplementedError

    def keep(self, table: str, sql: str) -> None:
        """Compute `sql` once and keep it as `table` for the queries that follow."""
        raise NotImplementedError

    def view(self, table: str, sql: str) -> None:
        """`sql` as the view `table`: computed where it is read."""
        raise NotImplementedError

    def drop(self, table: str) -> None:
        """An export's loaded table (see load) that no later query reads: its memory back."""

    def query(self, sql: str) -> pl.DataFrame:
        raise NotImplementedError

    def export_table(self, spec: str, name: str, path: Path) -> None:
        """The engine's table `name` (the input `spec`, table:NAME) written to `path` as Parquet,
        every column and row as the table has them, in the order the engine reads them: the run
        then reads that file as it reads any Parquet export (and writes the reclassified contacts
        from it)."""
        raise NotImplementedError

    def close(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _scratch_dir(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="lifecycle-engine-"))
        return self._scratch

    def _file_of(self, source: Source) -> str:
        """A path the engine can read: the file itself, or for a file that was not UTF-8 (or came
        from stdin) its decoded text in a private scratch file, removed when the engine closes."""
        if source.data is None and source.path is not None:
            # Absolute: the engine's working folder need not be this process's (Spark's JVM).
            return os.path.abspath(source.path)
        path = self._scratch_dir() / f"{source.role}.{source.format}"
        path.write_bytes(source.data or b"")
        return str(path)


def engine_error(what: str, exc: Exception, hint: str | None = None) -> InputError:
    """The input error for an engine's exception: `what` went wrong, and the first line of the
    engine's own message (the rest is its stack)."""
    return InputError(f"{what}: {str(exc).strip().splitlines()[0]}", hint=hint)


# DuckDB's SQL is the template dialect: its names and strings are written as the query's are.
_quoted, _literal = sql_identifier, sql_string


class DuckDBEngine(Engine):
    name = dialect = "duckdb"

    def __init__(self, database: Path | None = None) -> None:
        super().__init__()
        import duckdb

        self._duckdb = duckdb
        self.database = database
        self._loaded: dict[str, list[tuple[str, str]]] = {}  # what load created, per table
        # What does not fit in memory spills to the run's private scratch folder (removed when
        # the engine closes), not to DuckDB's default `.tmp` in the current folder.
        self.con = duckdb.connect(
            config={
                "preserve_insertion_order": True,
                "temp_directory": str(self._scratch_dir() / "spill"),
            }
        )

    def export_table(self, spec: str, name: str, path: Path) -> None:
        if self.database is None:
            raise InputError(
                f"{spec}: --engine duckdb reads tables from a DuckDB database file",
                hint="give the database with --database FILE",
            )
        # Opened read-only, apart from the run's own in-memory tables: nothing is written to it.
        try:
            con = self._duckdb.connect(str(self.database), read_only=True)
        except self._duckdb.Error as exc:
            raise engine_error(
                f"{self.database}: DuckDB could not open the database", exc
            ) from None
        try:
            con.execute(
                f"COPY (SELECT * FROM {_table_name(spec, name, _quoted)}) TO {_literal(str(path))} "
                "(FORMAT parquet)"
            )
        except self._duckdb.Error as exc:
            raise engine_error(
                f"{spec}: DuckDB could not read the table from {self.database}",
                exc,
                hint="name it as the database does: table, schema.table or catalog.schema.table "
                "(SHOW ALL TABLES lists them)",
            ) from None
        finally:
            con.close()

    def load(self, table: str, source: Source, columns: list[str]) -> None:
        path = _literal(self._file_of(source))
        wanted = ", ".join(f"CAST({_quoted(c)} AS VARCHAR) AS {_quoted(c)}" for c in columns)
        if source.format == "parquet":
            body = f"SELECT {wanted}, file_row_number AS {ROW_COLUMN} FROM read_parquet({path}, "
            body += "file_row_number = true)"
            self._run(source, f"CREATE TABLE {_quoted(table)} AS {body}")
            self._loaded[table] = [("TABLE", table)]
            return
        separator = source.dialect.separator if source.dialect else ","
        names = "[" + ", ".join(_literal(h) for h in source.headers) + "]"
        options = (
            f"delim = {_literal(separator)}, quote = '\"', escape = '\"', header = true, "
            f"all_varchar = true, names = {names}"
        )
        raw = _quoted(table + "__raw")
        select = f"SELECT {wanted or 'NULL AS __lc_none'} FROM read_csv({path}, {options}"
        try:
            self.con.execute(f"CREATE TABLE {raw} AS {select})")
        except self._duckdb.Error:
            # Rows with fewer fields than the header (Excel drops trailing empty ones) need
            # null padding, which DuckDB's parallel reader cannot combine with quoted line breaks.
            self._run(
                source,
                f"CREATE OR REPLACE TABLE {raw} AS {select}, null_padding = true, "
                "parallel = false)",
            )
        # A table's rowid is its insertion order: the file's.
        self.con.execute(
            f"CREATE VIEW {_quoted(table)} AS SELECT rowid AS {ROW_COLUMN}, * FROM {raw}"
        )
        self._loaded[table] = [("VIEW", table), ("TABLE", table + "__raw")]

    def drop(self, table: str) -> None:
        for kind, name in self._loaded.pop(table, []):
            self.con.execute(f"DROP {kind} IF EXISTS {_quoted(name)}")

    def _run(self, source: Source, sql: str) -> None:
        try:
            self.con.execute(sql)
        except self._duckdb.Error as exc:
            raise engine_error(f"{source.display}: DuckDB could not read the file", exc) from None

    def keep(self, table: str, sql: str) -> None:
        self.con.execute(f"CREATE TEMP TABLE {_quoted(table)} AS {sql}")

    def view(self, table: str, sql: str) -> None:
        self.con.execute(f"CREATE TEMP VIEW {_quoted(table)} AS {sql}")

    def query(self, sql: str) -> pl.DataFrame:
        return pl.DataFrame(self.con.sql(sql))  # through the Arrow C stream: no pyarrow needed

    def close(self) -> None:
        self.con.close()
        super().close()


class SparkEngine(Engine):
    name = dialect = "spark"

    def __init__(self, master: str | None) -> None:
        super().__init__()
        with warnings.catch_warnings():
            # pyspark warns about the pandas version it finds; the engine does not use pandas.
            warnings.simplefilter("ignore", FutureWarning)
            from pyspark.sql import SparkSession

        # A session this process already has (spark-submit's, or a notebook's) is used and left
        # running; one started here is stopped when the run ends.
        self._own = SparkSession.getActiveSession() is None
        self._tables: dict[str, object] = {}  # the input tables, by the file each was written to
        builder = SparkSession.builder.appName("lifecycle classify")
        if master:
            builder = builder.master(master)
        elif "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit: local mode
            builder = builder.master("local[*]")
        builder = (
            builder.config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.ansi.enabled", "false")
            # Every contact's decision comes back to this process (one narrow row each): at 10M
            # contacts that is more than the 1 GB Spark allows a result by default.
            .config("spark.driver.maxResultSize", "0")
        )
        # The JVM Spark starts writes its log lines to the terminal it inherits: started with its
        # output sent to a log file instead, they stay out of the report (and of stdout, where
        # the reclassified CSV may be going). Errors reach Python as exceptions all the same.
        log = self._scratch_dir() / "spark.log"
        with open(log, "ab") as sink, warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            sys.stdout.flush()
            sys.stderr.flush()
            saved = os.dup(1), os.dup(2)
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                self.spark = builder.getOrCreate()
            finally:
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
        self.spark.sparkContext.setLogLevel("ERROR")

    def load(self, table: str, source: Source, columns: list[str]) -> None:
        from pyspark.errors import AnalysisException

        try:
            self._load(table, source, columns)
        except AnalysisException as exc:
            raise engine_error(
                f"{source.display}: Spark could not read the file",
                exc,
                hint="on a cluster, every executor must be able to read the input files at the "
                "paths given (a shared folder, HDFS or object storage mounted the same way)",
            ) from None

    def _load(self, table: str, source: Source, columns: list[str]) -> None:
        from pyspark.sql import functions as F

        path = self._file_of(source)
        if path in self._tables:  # an input table (export_table)
            frame = self._tables[path]
        elif source.format == "parquet":
            frame = self.spark.read.parquet(path)
        else:
            separator = source.dialect.separator if source.dialect else ","
            # Quotes doubled inside quoted fields, line breaks inside them: as classify reads.
            frame = self.spark.read.csv(
                path,
                header=True,
                sep=separator,
                quote='"',
                escape='"',
                multiLine=True,
                inferSchema=False,
                encoding="UTF-8",
                mode="PERMISSIVE",
            ).toDF(*source.headers)
        frame = frame.select(
            *(F.col(f"`{c}`").cast("string").alias(c) for c in columns),
            F.monotonically_increasing_id().alias("__lc_id"),
        )
        if frame.rdd.getNumPartitions() == 1:
            # One partition (a CSV read whole, as multi-line fields need): the ids are the rows.
            self._checkpoint(table, frame.withColumnRenamed("__lc_id", ROW_COLUMN))
            return
        # Read once: kept in the executors' memory (or disk), so the ids below stay the same.
        frame = frame.localCheckpoint(eager=True)
        # MONOTONICALLY_INCREASING_ID() is the partition number in its upper bits and the place in
        # the partition below: the rows before each partition make it the file row, dense. The
        # rows per partition are a few numbers, added up here: no window over the whole table.
        frame.createOrReplaceTempView(f"{table}__ids")
        counts = self.spark.sql(
            f"SELECT SHIFTRIGHT(__lc_id, 33) AS p, COUNT(*) AS n FROM {table}__ids GROUP BY 1"
        ).collect()
        starts, total = [], 0
        for p, n in sorted((int(r["p"]), int(r["n"])) for r in counts):
            starts.append((p, total))
            total += n
        self.spark.createDataFrame(
            starts or [(0, 0)], "p BIGINT, start BIGINT"
        ).createOrReplaceTempView(f"{table}__starts")
        self.keep(
            table,
            f"SELECT /*+ BROADCAST(s) */ s.start + (t.__lc_id & 8589934591) AS {ROW_COLUMN}, "
            f"t.* EXCEPT (__lc_id) FROM {table}__ids AS t JOIN {table}__starts AS s ON s.p = "
            "SHIFTRIGHT(t.__lc_id, 33)",
        )

    def keep(self, table: str, sql: str) -> None:
        self._checkpoint(table, self.spark.sql(sql))

    @staticmethod
    def _checkpoint(table: str, frame) -> None:
        # Computed now and kept without its lineage: the plans of the queries that read it stay
        # small (Spark plans every query whole, and planning a chain of views costs seconds).
        from pyspark.sql import functions as F

        kept = frame.localCheckpoint(eager=True)
        # Each column renamed to itself: new attribute ids, so two checkpoints derived from one
        # another can meet in a UNION (Spark 4 otherwise fails: "key not found: rn#...").
        kept.select(*(F.col(f"`{c}`").alias(c) for c in kept.columns)).createOrReplaceTempView(
            table
        )

    def view(self, table: str, sql: str) -> None:
        self.spark.sql(sql).createOrReplaceTempView(table)

    def export_table(self, spec: str, name: str, path: Path) -> None:
        from pyspark.errors import AnalysisException

        try:
            frame = self.spark.table(_table_name(spec, name, lambda part: f"`{part}`"))
        except AnalysisException as exc:
            raise engine_error(
                f"{spec}: Spark could not find the table",
                exc,
                hint="name it as the session's catalog does: table, database.table or "
                "catalog.database.table",
            ) from None
        # Kept as Spark read it once: the rows written to `path` here (for the report and the
        # reclassified file) and the rows the queries number are the same rows in the same order,
        # and on a cluster the executors keep them (they need not read this machine's file).
        frame = frame.localCheckpoint(eager=True)
        pl.from_arrow(frame.toArrow()).write_parquet(path)
        self._tables[os.path.abspath(path)] = frame

    def query(self, sql: str) -> pl.DataFrame:
        return pl.from_arrow(self.spark.sql(sql).toArrow())

    def close(self) -> None:
        if self._own:
            self.spark.stop()
        super().close()


def _table_name(spec: str, name: str, quote) -> str:
    """`name` checked to be a table name (TABLE_NAME) and nothing more, each part quoted by
    `quote` (it is written into a query)."""
    if not TABLE_NAME.fullmatch(name):
        raise InputError(
            f"{spec}: '{name}' is not a table name",
            hint=f"expected table:NAME, NAME {TABLE_NAME_EXPECTED}",
        )
    return ".".join(map(quote, name.split(".")))


def open_engine(
    name: str, *, spark_master: str | None = None, database: Path | None = None
) -> Engine:
    """The engine `name` (duckdb or spark), or a usage error saying how to install it."""
    try:
        if name == "duckdb":
            return DuckDBEngine(database)
        if name == "spark":
            return SparkEngine(spark_master)
    except ImportError:
        raise LifecycleError(
            f"--engine {name} needs the {name} package: pip install 'lifecycle-cli[{name}]'"
        ) from None
    raise LifecycleError(f"--engine must be one of {', '.join(ENGINES)}, not '{name}'")
