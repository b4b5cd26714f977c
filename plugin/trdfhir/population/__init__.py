"""The population report (`trd-fhir population`, docs/population.md): from the outputs of
`trd-fhir bulk`, how many patients each staging model calls treatment-resistant, how far the models
agree, what psychotherapy and pseudo-resistance change, the upper bound and the data coverage, as
one offline HTML page, JSON numbers and FHIR MeasureReports.

Needs the optional extra `[report]` (matplotlib, statsmodels, Jinja2); the command module imports
this package only when it runs.
"""
