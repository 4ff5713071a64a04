"""The names of the working columns the classify steps share (all start with `__lc_`, which no
export uses). One place: a step that adds a column and a step that reads it import it from here."""

KEY = "__lc_key"  #: the contact's Record ID, trimmed: the join key everywhere
ROW = "__lc_row"  #: 0-based data row of a file, for error messages
ACCOUNT = "__lc_account"  #: a contact's or deal's account id, as compared (see `facts.account_key`)

FACT = "__lc_f_"  #: prefix of the columns conditions read
CUR = "__lc_current"  #: the stage id read from the file
NEW = "__lc_new"  #: the stage id decided
RULE = "__lc_rule"  #: the id of the rule or policy that decided
RAW = "__lc_raw_stage"  #: the stage as the file spells it, only where the rules do not know it
OTHER = "__lc_other_type"  #: the Other Type a rule set (null: keep the file's)
UNKNOWN_AT = "__lc_unknown_at"  #: index of the undecided rule that kept the stage (null: none did)
SPELLING = "__lc_spelling"  #: the stage as the file spells it, trimmed
BAD = "__lc_bad_"  #: prefix of flags for values that do not read as their type
VOCAB = "__lc_vocab_"  #: prefix of columns holding a value no list names (null elsewhere)
