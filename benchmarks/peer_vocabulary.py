"""The default rules.yaml written out by hand for the benchmark peers (they do not read
rules.yaml)."""

# --- rules.yaml `values:` (defaults), compared trimmed and lower case ------------------
OTHER_KINDS = ["Employee", "Applicant", "Partner", "Competitor", "Vendor"]
INTERNAL_DOMAINS = ["lifecycle-demo.com"]
WON_DEAL_STAGES = ["closedwon", "Closed Won"]
LOST_DEAL_STAGES = ["closedlost", "Closed Lost"]
SALES_LEAD_STATUSES = [
    "Attempted to contact",
    "ATTEMPTED_TO_CONTACT",
    "Connected",
    "In progress",
    "IN_PROGRESS",
    "Open deal",
    "OPEN_DEAL",
]
DOUBLE_OPT_IN_CONFIRMED = [
    "Confirmed",
    "User clicked confirmation",
    "HubSpot Rep. marked confirmed",
    "Customer marked confirmed",
    "Confirmed from previous behavior",
    "Confirmed due to form",
]
MARKETING_SUBSCRIPTION_TYPES = ["Marketing Information"]
SUBSCRIBED_STATUSES = ["Subscribed", "SUBSCRIBED"]
TRUE_VALUES = ["true", "yes", "y", "1", "ja", "wahr"]
FALSE_VALUES = ["false", "no", "n", "0", "nein", "falsch"]

# --- rules.yaml `stages:`: id -> every accepted spelling (id, label, value, aliases) ----
STAGES = {
    "subscriber": ["subscriber", "Subscriber", "Abonnent"],
    "lead": ["lead", "Lead", "Leads"],
    "marketing_lead": [
        "marketing_lead",
        "Marketing Lead",
        "marketingqualifiedlead",
        "Marketing Qualified Lead",
        "Marketing-qualified lead",
        "MQL",
        "Marketingqualifizierter Lead",
    ],
    "sales_lead": [
        "sales_lead",
        "Sales Lead",
        "salesqualifiedlead",
        "Sales Qualified Lead",
        "Sales-qualified lead",
        "SQL",
        "Vertriebsqualifizierter Lead",
    ],
    "opportunity": ["opportunity", "Opportunity", "Verkaufschance"],
    "customer": ["customer", "Customer", "Kunde"],
    "evangelist": ["evangelist", "Evangelist", "Advocate", "Fürsprecher"],
    "other": ["other", "Other", "Andere", "Sonstige"],
}

# --- rules.yaml `stages:` label and HubSpot value: how a changed stage is written ------
LABEL = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "marketing_lead": "Marketing Lead",
    "sales_lead": "Sales Lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}
VALUE = {
    "subscriber": "subscriber",
    "lead": "lead",
    "marketing_lead": "marketingqualifiedlead",
    "sales_lead": "salesqualifiedlead",
    "opportunity": "opportunity",
    "customer": "customer",
    "evangelist": "evangelist",
    "other": "other",
}
# Stages whose value and label differ tell which of the two a file uses (as lifecycle's
# --stage-values auto does, from the first FORM_SAMPLE stages of the file).
VALUE_ONLY = [VALUE[i] for i in VALUE if VALUE[i].lower() != LABEL[i].lower()]
LABEL_ONLY = [LABEL[i] for i in VALUE if VALUE[i].lower() != LABEL[i].lower()]
FORM_SAMPLE = 1000
