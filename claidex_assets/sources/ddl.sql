-- Claidex source tables, combined payment view, quarantine and score table.
-- Idempotent: every statement can run again on a database that has them.
-- There are no CHECK constraints and the payment tables have no primary
-- key, so a hand-loaded table can contain bad rows. The extracts reject
-- those rows into the quarantine and the asset checks count them.

CREATE TABLE IF NOT EXISTS providers (
    npi              TEXT PRIMARY KEY,
    display_name     TEXT,
    taxonomy_1       TEXT,
    state            TEXT,
    is_excluded      BOOLEAN NOT NULL DEFAULT FALSE,
    entity_type_code SMALLINT,
    source_file      TEXT,
    loaded_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS providers_state_taxonomy_idx ON providers (state, taxonomy_1);

-- One row per OIG LEIE record. exclusion_id is 'LEIE-' plus 16 hex digits
-- of a SHA-1 over the record's identifying fields, so reloads keep ids.
CREATE TABLE IF NOT EXISTS exclusions (
    exclusion_id          TEXT PRIMARY KEY,
    npi                   TEXT,
    last_name             TEXT,
    first_name            TEXT,
    middle_name           TEXT,
    business_name         TEXT,
    business_name_normalized TEXT,
    general               TEXT,
    specialty             TEXT,
    upin                  TEXT,
    dob                   DATE,
    address               TEXT,
    city                  TEXT,
    state                 TEXT,
    zip                   TEXT,
    excltype              TEXT,
    excldate              DATE,
    reindate              DATE,
    reinstated            BOOLEAN NOT NULL DEFAULT FALSE,
    waiverdate            DATE,
    wvrstate              TEXT,
    source_file           TEXT,
    loaded_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS exclusions_npi_idx ON exclusions (npi);
CREATE INDEX IF NOT EXISTS exclusions_business_state_idx ON exclusions (business_name_normalized, state);

-- The payment tables have one index, on (npi, year). Loaders copy rows
-- sorted by NPI, which keeps its maintenance cheap. There is no year
-- index, because a reload deletes a fifth of the rows and the extracts
-- read them all, so it would only slow a national COPY down.

-- Medicaid spending aggregated from provider-month line items to provider-year.
-- beneficiaries is the largest monthly unique-beneficiary count of the year,
-- a lower bound on the yearly unique count (monthly counts overlap).
CREATE TABLE IF NOT EXISTS payments_medicaid (
    npi           TEXT,
    year          INTEGER,
    payments      NUMERIC(18, 2),
    claims        BIGINT,
    beneficiaries BIGINT,
    source_file   TEXT,
    loaded_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_medicaid_npi_year_idx ON payments_medicaid (npi, year);

-- Medicare Physician & Other Practitioners, by provider and year.
CREATE TABLE IF NOT EXISTS payments_medicare (
    npi                 TEXT,
    year                INTEGER,
    provider_type       TEXT,
    state               TEXT,
    medicare_paid       NUMERIC(18, 2),
    medicare_allowed    NUMERIC(18, 2),
    total_services      NUMERIC(18, 2),
    total_beneficiaries BIGINT,
    source_file         TEXT,
    loaded_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS payments_medicare_npi_year_idx ON payments_medicare (npi, year);

-- Medicare Part D Prescribers, by provider and year.
CREATE TABLE IF NOT EXISTS medicare_part_d (
    npi             TEXT,
    year            INTEGER,
    provider_type   TEXT,
    state           TEXT,
    total_drug_cost NUMERIC(18, 2),
    total_claims    BIGINT,
    total_benes     BIGINT,
    source_file     TEXT,
    loaded_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS medicare_part_d_npi_year_idx ON medicare_part_d (npi, year);

-- Provider-year-program payment rows of all three programs. Taxonomy and
-- state come from the providers row when the NPI is there (a null value
-- there becomes 'Unknown'), otherwise from the payment row (Medicare
-- provider type and state; Medicaid rows carry neither), otherwise 'Unknown'.
CREATE OR REPLACE VIEW payments_combined_v AS
WITH payment_rows AS (
    SELECT npi, year, 'Medicaid'::TEXT AS program,
           payments::NUMERIC AS payments, NULL::NUMERIC AS allowed,
           claims::NUMERIC AS claims, beneficiaries::NUMERIC AS beneficiaries,
           NULL::TEXT AS taxonomy, NULL::TEXT AS state
    FROM payments_medicaid
    UNION ALL
    SELECT npi, year, 'Medicare'::TEXT,
           medicare_paid::NUMERIC, medicare_allowed::NUMERIC,
           total_services::NUMERIC, total_beneficiaries::NUMERIC,
           provider_type, state
    FROM payments_medicare
    UNION ALL
    SELECT npi, year, 'MedicarePartD'::TEXT,
           total_drug_cost::NUMERIC, NULL::NUMERIC,
           total_claims::NUMERIC, total_benes::NUMERIC,
           provider_type, state
    FROM medicare_part_d
)
SELECT r.npi, r.year, r.program, r.payments, r.allowed, r.claims, r.beneficiaries,
       CASE WHEN p.npi IS NOT NULL THEN COALESCE(p.taxonomy_1, 'Unknown')
            ELSE COALESCE(r.taxonomy, 'Unknown') END AS taxonomy,
       CASE WHEN p.npi IS NOT NULL THEN COALESCE(p.state, 'Unknown')
            ELSE COALESCE(r.state, 'Unknown') END AS state
FROM payment_rows r
LEFT JOIN providers p ON p.npi = r.npi;

-- Rows that could not be loaded or scored, with the reason and the raw values.
CREATE TABLE IF NOT EXISTS quarantine (
    id             BIGSERIAL PRIMARY KEY,
    source         TEXT NOT NULL,
    source_file    TEXT,
    line_number    BIGINT,
    reason         TEXT NOT NULL,
    raw            JSONB,
    run_id         TEXT,
    quarantined_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS quarantine_source_reason_idx ON quarantine (source, reason);
CREATE INDEX IF NOT EXISTS quarantine_run_id_idx ON quarantine (run_id);

-- Published scores, one row per scored NPI; an API reads this table.
CREATE TABLE IF NOT EXISTS provider_risk_scores (
    npi                         TEXT PRIMARY KEY,
    risk_score                  NUMERIC(6, 2),
    risk_label                  TEXT,
    r_raw                       NUMERIC(8, 4),
    billing_outlier_score       NUMERIC(6, 2),
    billing_outlier_percentile  NUMERIC(6, 2),
    ownership_chain_risk        NUMERIC(6, 2),
    payment_trajectory_score    NUMERIC(6, 2),
    payment_trajectory_zscore   NUMERIC(8, 4),
    exclusion_proximity_score   NUMERIC(6, 2),
    program_concentration_score NUMERIC(6, 2),
    peer_taxonomy               TEXT,
    peer_state                  TEXT,
    peer_count                  INTEGER,
    data_window_years           INTEGER[],
    top_program                 TEXT,
    chain_excluded_count        INTEGER,
    flags                       JSONB,
    components                  JSONB,
    methodology_version         TEXT,
    run_id                      TEXT,
    updated_at                  TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS provider_risk_scores_risk_score_idx ON provider_risk_scores (risk_score DESC);
CREATE INDEX IF NOT EXISTS provider_risk_scores_risk_label_idx ON provider_risk_scores (risk_label);
CREATE INDEX IF NOT EXISTS provider_risk_scores_updated_at_idx ON provider_risk_scores (updated_at);
