"""The scorecard and its views. `scorecard`: the JSON model logged per run, the policy summary it
keeps and its plain-text form; `plots`: its charts as PNGs; `html`: the self-contained HTML page
and the view model its template (`templates/scorecard.html.j2`) reads; `_common`: what the page
and the charts both read from a scorecard (headline statistics, metric keys, verdicts, dimension
titles); `report`: all of the public names in one module, the import path of earlier versions;
`scorecard_page`: the page logged to a run with the model version's known limitations.

May import: `core`, `dimensions` (titles and explanations), `release` (judging a value against a
rule, known-limitation records).
"""
