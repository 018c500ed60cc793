"""Settings of the alert-pipeline service, read from ``ALERT_PIPELINE_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings
from shared.topics import UTM_EVENTS


class Settings(CommonSettings):
    """Configuration of the alert-pipeline service."""

    model_config = SettingsConfigDict(env_prefix="ALERT_PIPELINE_", extra="ignore")

    database: str = "alert-pipeline"
    consumer_group: str = Field(default="alert-pipeline", description="Kafka consumer group of the pipeline.")
    raw_topic: str = Field(default=UTM_EVENTS, description="Topic the fleet writes raw UTM records to.")
    rules_file: str = Field(default="", description="Classification rules (TOML); empty: the packaged file.")
    batch_max_records: int = Field(default=10_000, ge=1, description="Most raw records handled per batch.")
    batch_timeout_ms: int = Field(default=100, ge=1, description="Longest wait to fill a batch.")
    batches_in_flight: int = Field(
        default=1_000,
        ge=1,
        description=(
            "Most batches being stored at once (their counts are applied together, in order): enough"
            " for every small batch of a counts interval, so that only ``records_in_flight`` binds."
        ),
    )
    records_in_flight: int = Field(
        default=200_000,
        ge=1,
        description="Most raw records held by the batches being stored (memory: about 1 KiB each).",
    )
    counts_interval_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "Least time between two counters' transactions (the batches meanwhile go in one): how far"
            " reports may lag, and how long offsets wait to be committed."
        ),
    )
    fetch_max_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Most bytes one fetch of the raw topic returns."
    )
    max_partition_fetch_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Most bytes one fetch returns per partition."
    )
    process_in_thread: bool = Field(
        default=True, description="Run the engine in a worker thread while the next batch is fetched."
    )
    seen_flush_seconds: float = Field(default=5.0, gt=0, description="How often utm-seen summaries go out.")
    rollup_seconds: float = Field(
        default=600.0, gt=0, description="How often finished days' counters are rolled up for reports."
    )
    monthly_check_seconds: float = Field(
        default=600.0, gt=0, description="How often the monthly report schedule looks for reports due."
    )
    quarantine_ttl_days: int = Field(default=7, ge=1, description="How long unknown units' events are kept.")
    max_record_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Larger raw records go to the dead-letter topic."
    )
    max_json_depth: int = Field(default=32, ge=2, le=1000, description="Deepest JSON nesting accepted.")
    stall_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A raw-topic partition with lag and no progress for this long makes readiness 503.",
    )
    lag_sample_seconds: float = Field(default=5.0, gt=0, description="How often consumer lag is sampled.")
