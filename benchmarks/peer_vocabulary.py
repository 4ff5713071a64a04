"""The default rules.yaml written out by hand for the benchmark peers (they do not read rules.yaml)."""

# --- rules.yaml `values:` (defaults), compared trimmed and lower case ------------------
OTHER_KINDS = ["Employee", "Applicant", "Partner", "Competitor", "Vendor"]
INTERNAL_DOMAINS = ["lifecycle-demo.com"]
WON_DEAL_STAGES = ["closedwon", "Closed Won"]
LOST_DEAL_STAGES = ["closedlost", "Closed Lost"]
SALES_LEAD_STATUSES = ["Attempted to contact", "ATTEMPTED_TO_CONTACT", "Connected", "In progress",
                       "IN_PROGRESS", "Open deal", "OPEN_DEAL"]
DOUBLE_OPT_IN_CONFIRMED = ["Confirmed", "User clicked confirmation", "HubSpot Rep. marked confirmed",
                           "Customer marked confirmed", "Confirmed from previous behavior", "Confirmed due to form"]
MARKETING_SUBSCRIPTION_TYPES = ["Marketing Information"]
SUBSCRIBED_STATUSES = ["Subscribed", "SUBSCRIBED"]
TRUE_VALUES = ["true", "yes", "y", "1", "ja", "wahr"]
FALSE_VALUES = ["false", "no", "n", "0", "nein", "falsch"]

# --- rules.yaml `stages:`: id -> every accepted spelling (id, label, value, aliases) ----
STAGES = {
    "subscriber": ["subscriber", "Subscriber", "Abonnent"],
    "lead": ["lead", "Lead", "Leads"],
    "marketing_lead": ["marketing_lead", "Marketing Lead", "marketingqualifiedlead", "Marketing Qualified Lead",
                       "Marketing-qualified lead", "MQL", "Marketingqualifizierter Lead"],
    "sales_lead": ["sales_lead", "Sales Lead", "salesqualifiedlead", "Sales Qualified Lead", "Sales-qualified lead",
                   "SQL", "Vertriebsqualifizierter Lead"],
    "opportunity": ["opportunity", "Opportunity", "Verkaufschance"],
    "customer": ["customer", "Customer", "Kunde"],
    "evangelist": ["evangelist", "Evangelist", "Advocate", "Fürsprecher"],
    "other": ["other", "Other", "Andere", "Sonstige"],
}
