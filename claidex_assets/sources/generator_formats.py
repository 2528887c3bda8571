"""Column layouts and file names of the public source files the generator writes.

The layouts follow the public CMS, OIG and NPPES releases as of 2024: the
same column names in the same order. Columns that the loaders do not read
are written empty (NPPES) or filled with plausible values.
"""

from __future__ import annotations

# NPPES npidata_pfile: 330 columns. The repeated blocks are 15 taxonomy
# groups of 4 columns, 50 other-identifier groups of 4 and 15 taxonomy
# group columns. "Provider Sex Code" was "Provider Gender Code" before 2024.
NPPES_HEAD = [
    "NPI", "Entity Type Code", "Replacement NPI", "Employer Identification Number (EIN)",
    "Provider Organization Name (Legal Business Name)", "Provider Last Name (Legal Name)",
    "Provider First Name", "Provider Middle Name", "Provider Name Prefix Text", "Provider Name Suffix Text",
    "Provider Credential Text", "Provider Other Organization Name", "Provider Other Organization Name Type Code",
    "Provider Other Last Name", "Provider Other First Name", "Provider Other Middle Name",
    "Provider Other Name Prefix Text", "Provider Other Name Suffix Text", "Provider Other Credential Text",
    "Provider Other Last Name Type Code", "Provider First Line Business Mailing Address",
    "Provider Second Line Business Mailing Address", "Provider Business Mailing Address City Name",
    "Provider Business Mailing Address State Name", "Provider Business Mailing Address Postal Code",
    "Provider Business Mailing Address Country Code (If outside U.S.)",
    "Provider Business Mailing Address Telephone Number", "Provider Business Mailing Address Fax Number",
    "Provider First Line Business Practice Location Address",
    "Provider Second Line Business Practice Location Address",
    "Provider Business Practice Location Address City Name",
    "Provider Business Practice Location Address State Name",
    "Provider Business Practice Location Address Postal Code",
    "Provider Business Practice Location Address Country Code (If outside U.S.)",
    "Provider Business Practice Location Address Telephone Number",
    "Provider Business Practice Location Address Fax Number", "Provider Enumeration Date", "Last Update Date",
    "NPI Deactivation Reason Code", "NPI Deactivation Date", "NPI Reactivation Date", "Provider Sex Code",
    "Authorized Official Last Name", "Authorized Official First Name", "Authorized Official Middle Name",
    "Authorized Official Title or Position", "Authorized Official Telephone Number",
]
NPPES_TAIL = [
    "Is Sole Proprietor", "Is Organization Subpart", "Parent Organization LBN", "Parent Organization TIN",
    "Authorized Official Name Prefix Text", "Authorized Official Name Suffix Text",
    "Authorized Official Credential Text",
]


def nppes_columns() -> list[str]:
    columns = list(NPPES_HEAD)
    for i in range(1, 16):
        columns += [
            f"Healthcare Provider Taxonomy Code_{i}", f"Provider License Number_{i}",
            f"Provider License Number State Code_{i}", f"Healthcare Provider Primary Taxonomy Switch_{i}",
        ]
    for i in range(1, 51):
        columns += [
            f"Other Provider Identifier_{i}", f"Other Provider Identifier Type Code_{i}",
            f"Other Provider Identifier State_{i}", f"Other Provider Identifier Issuer_{i}",
        ]
    columns += NPPES_TAIL
    columns += [f"Healthcare Provider Taxonomy Group_{i}" for i in range(1, 16)]
    columns.append("Certification Date")
    return columns


LEIE_COLUMNS = [
    "LASTNAME", "FIRSTNAME", "MIDNAME", "BUSNAME", "GENERAL", "SPECIALTY", "UPIN", "NPI", "DOB",
    "ADDRESS", "CITY", "STATE", "ZIP", "EXCLTYPE", "EXCLDATE", "REINDATE", "WAIVERDATE", "WVRSTATE",
]

_CHRONIC = (
    "AF", "Alzhmr_Dmnta", "Asthma", "Cncr", "CHF", "CKD", "COPD", "Dprssn", "Dbts", "Hyplpdma",
    "Hyprtnsn", "IHD", "Opo", "RAOA", "Sz", "Strok",
)
MEDICARE_COLUMNS = [
    "Rndrng_NPI", "Rndrng_Prvdr_Last_Org_Name", "Rndrng_Prvdr_First_Name", "Rndrng_Prvdr_MI",
    "Rndrng_Prvdr_Crdntls", "Rndrng_Prvdr_Gndr", "Rndrng_Prvdr_Ent_Cd", "Rndrng_Prvdr_St1",
    "Rndrng_Prvdr_St2", "Rndrng_Prvdr_City", "Rndrng_Prvdr_State_Abrvtn", "Rndrng_Prvdr_State_FIPS",
    "Rndrng_Prvdr_Zip5", "Rndrng_Prvdr_RUCA", "Rndrng_Prvdr_RUCA_Desc", "Rndrng_Prvdr_Cntry",
    "Rndrng_Prvdr_Type", "Rndrng_Prvdr_Mdcr_Prtcptg_Ind", "Tot_HCPCS_Cds", "Tot_Benes", "Tot_Srvcs",
    "Tot_Sbmtd_Chrg", "Tot_Mdcr_Alowd_Amt", "Tot_Mdcr_Pymt_Amt", "Tot_Mdcr_Stdzd_Amt", "Drug_Sprsn_Ind",
    "Drug_Tot_HCPCS_Cds", "Drug_Tot_Benes", "Drug_Tot_Srvcs", "Drug_Sbmtd_Chrg", "Drug_Mdcr_Alowd_Amt",
    "Drug_Mdcr_Pymt_Amt", "Drug_Mdcr_Stdzd_Amt", "Med_Sprsn_Ind", "Med_Tot_HCPCS_Cds", "Med_Tot_Benes",
    "Med_Tot_Srvcs", "Med_Sbmtd_Chrg", "Med_Mdcr_Alowd_Amt", "Med_Mdcr_Pymt_Amt", "Med_Mdcr_Stdzd_Amt",
    "Bene_Avg_Age", "Bene_Age_LT_65_Cnt", "Bene_Age_65_74_Cnt", "Bene_Age_75_84_Cnt", "Bene_Age_GT_84_Cnt",
    "Bene_Feml_Cnt", "Bene_Male_Cnt", "Bene_Race_Wht_Cnt", "Bene_Race_Black_Cnt", "Bene_Race_API_Cnt",
    "Bene_Race_Hspnc_Cnt", "Bene_Race_NatInd_Cnt", "Bene_Race_Othr_Cnt", "Bene_Dual_Cnt", "Bene_Ndual_Cnt",
    *[f"Bene_CC_PH_{name}_V2_Pct" for name in _CHRONIC],
    "Bene_Avg_Risk_Scre",
]

PARTD_COLUMNS = [
    "PRSCRBR_NPI", "Prscrbr_Last_Org_Name", "Prscrbr_First_Name", "Prscrbr_MI", "Prscrbr_Crdntls",
    "Prscrbr_Gndr", "Prscrbr_Ent_Cd", "Prscrbr_St1", "Prscrbr_St2", "Prscrbr_City", "Prscrbr_State_Abrvtn",
    "Prscrbr_State_FIPS", "Prscrbr_Zip5", "Prscrbr_RUCA", "Prscrbr_RUCA_Desc", "Prscrbr_Cntry",
    "Prscrbr_Type", "Prscrbr_Type_Src", "Tot_Clms", "Tot_30day_Fills", "Tot_Drug_Cst", "Tot_Day_Suply",
    "Tot_Benes", "GE65_Sprsn_Flag", "GE65_Tot_Clms", "GE65_Tot_30day_Fills", "GE65_Tot_Drug_Cst",
    "GE65_Tot_Day_Suply", "GE65_Bene_Sprsn_Flag", "GE65_Tot_Benes", "Brnd_Sprsn_Flag", "Brnd_Tot_Clms",
    "Brnd_Tot_Drug_Cst", "Gnrc_Sprsn_Flag", "Gnrc_Tot_Clms", "Gnrc_Tot_Drug_Cst", "Othr_Sprsn_Flag",
    "Othr_Tot_Clms", "Othr_Tot_Drug_Cst", "MAPD_Sprsn_Flag", "MAPD_Tot_Clms", "MAPD_Tot_Drug_Cst",
    "PDP_Sprsn_Flag", "PDP_Tot_Clms", "PDP_Tot_Drug_Cst", "LIS_Sprsn_Flag", "LIS_Tot_Clms", "LIS_Drug_Cst",
    "NonLIS_Sprsn_Flag", "NonLIS_Tot_Clms", "NonLIS_Drug_Cst", "Opioid_Tot_Clms", "Opioid_Tot_Drug_Cst",
    "Opioid_Tot_Suply", "Opioid_Tot_Benes", "Opioid_Prscrbr_Rate", "Opioid_LA_Tot_Clms",
    "Opioid_LA_Tot_Drug_Cst", "Opioid_LA_Tot_Suply", "Opioid_LA_Tot_Benes", "Opioid_LA_Prscrbr_Rate",
    "Antbtc_Tot_Clms", "Antbtc_Tot_Drug_Cst", "Antbtc_Tot_Benes", "Antpsyct_GE65_Sprsn_Flag",
    "Antpsyct_GE65_Tot_Clms", "Antpsyct_GE65_Tot_Drug_Cst", "Antpsyct_GE65_Bene_Suprsn_Flag",
    "Antpsyct_GE65_Tot_Benes", "Bene_Avg_Age", "Bene_Age_LT_65_Cnt", "Bene_Age_65_74_Cnt",
    "Bene_Age_75_84_Cnt", "Bene_Age_GT_84_Cnt", "Bene_Feml_Cnt", "Bene_Male_Cnt", "Bene_Race_Wht_Cnt",
    "Bene_Race_Black_Cnt", "Bene_Race_Api_Cnt", "Bene_Race_Hspnc_Cnt", "Bene_Race_Natind_Cnt",
    "Bene_Race_Othr_Cnt", "Bene_Dual_Cnt", "Bene_Ndual_Cnt", "Bene_Avg_Risk_Scre",
]

MEDICAID_COLUMNS = [
    "BILLING_PROVIDER_NPI_NUM", "SERVICING_PROVIDER_NPI_NUM", "HCPCS_CODE", "CLAIM_FROM_MONTH",
    "TOTAL_UNIQUE_BENEFICIARIES", "TOTAL_CLAIMS", "TOTAL_PAID",
]

SNF_OWNER_COLUMNS = [
    "ENROLLMENT ID", "ASSOCIATE ID", "ORGANIZATION NAME", "ASSOCIATE ID - OWNER", "TYPE - OWNER",
    "ROLE CODE - OWNER", "ROLE TEXT - OWNER", "ASSOCIATION DATE - OWNER", "FIRST NAME - OWNER",
    "MIDDLE NAME - OWNER", "LAST NAME - OWNER", "TITLE - OWNER", "ORGANIZATION NAME - OWNER",
    "DOING BUSINESS AS NAME - OWNER", "ADDRESS LINE 1 - OWNER", "ADDRESS LINE 2 - OWNER", "CITY - OWNER",
    "STATE - OWNER", "ZIP CODE - OWNER", "PERCENTAGE OWNERSHIP", "CREATED FOR ACQUISITION - OWNER",
    "CORPORATION - OWNER", "LLC - OWNER", "MEDICAL PROVIDER SUPPLIER - OWNER",
    "MANAGEMENT SERVICES COMPANY - OWNER", "MEDICAL STAFFING COMPANY - OWNER", "HOLDING COMPANY - OWNER",
    "INVESTMENT FIRM - OWNER", "FINANCIAL INSTITUTION - OWNER", "CONSULTING FIRM - OWNER",
    "FOR PROFIT - OWNER", "NON PROFIT - OWNER", "PRIVATE EQUITY COMPANY - OWNER", "REIT - OWNER",
    "CHAIN HOME OFFICE - OWNER", "TRUST OR TRUSTEE - OWNER", "OTHER TYPE - OWNER", "OTHER TYPE TEXT - OWNER",
    "PARENT COMPANY - OWNER", "OWNED BY ANOTHER ORG OR INDIVIDUAL - OWNER",
]
# The organization-kind flag columns of an owner row, each "Y" or "N" (blank for individuals).
SNF_OWNER_FLAG_COLUMNS = SNF_OWNER_COLUMNS[20:37] + SNF_OWNER_COLUMNS[38:40]

SNF_ENROLLMENT_COLUMNS = [
    "ENROLLMENT ID", "ENROLLMENT STATE", "PROVIDER TYPE CODE", "PROVIDER TYPE TEXT", "NPI",
    "MULTIPLE NPI FLAG", "CCN", "ASSOCIATE ID", "ORGANIZATION NAME", "DOING BUSINESS AS NAME",
    "INCORPORATION DATE", "INCORPORATION STATE", "ORGANIZATION TYPE STRUCTURE", "ORGANIZATION OTHER TYPE TEXT",
    "PROPRIETARY_NONPROFIT", "NURSING HOME PROVIDER NAME", "AFFILIATION ENTITY NAME", "AFFILIATION ENTITY ID",
    "ADDRESS LINE 1", "ADDRESS LINE 2", "CITY", "STATE", "ZIP CODE",
]

# PECOS role codes of SNF owners; 34-39 are ownership or partnership interests.
ROLE_TEXT = {
    "34": "5% OR GREATER DIRECT OWNERSHIP INTEREST",
    "35": "5% OR GREATER INDIRECT OWNERSHIP INTEREST",
    "36": "5% OR GREATER MORTGAGE INTEREST",
    "37": "5% OR GREATER SECURITY INTEREST",
    "38": "GENERAL PARTNERSHIP INTEREST",
    "39": "LIMITED PARTNERSHIP INTEREST",
    "40": "OFFICER",
    "41": "DIRECTOR",
    "42": "W-2 MANAGING EMPLOYEE",
    "43": "CONTRACTED MANAGING EMPLOYEE",
    "44": "OPERATIONAL/MANAGERIAL CONTROL",
}


def medicare_file_name(year: int) -> str:
    """Name of the Medicare Physician & Other Practitioners by Provider file of a data year."""
    yy = year % 100
    return f"MUP_PHY_R{yy + 2:02d}_P05_V10_D{yy:02d}_Prov.csv"


def partd_file_name(year: int) -> str:
    """Name of the Medicare Part D Prescribers by Provider file of a data year."""
    yy = year % 100
    return f"MUP_DPR_RY{yy + 2:02d}_P04_V10_DY{yy:02d}_NPI.csv"


NPPES_FILE = "npidata_pfile_20050523-20240811.csv"
LEIE_FILE = "UPDATED.csv"
MEDICAID_FILE = "medicaid-provider-spending.csv"
SNF_OWNERS_FILE = "SNF_All_Owners_2024.08.01.csv"
SNF_ENROLLMENTS_FILE = "SNF_Enrollments_2024.08.01.csv"
