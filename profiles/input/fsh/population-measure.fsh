// The population report (`trd-fhir population --measure-report`): one Measure per staging model
// with a TRD definition (docs/rules.md; mappings/population.json) and the profile of the summary
// MeasureReports that reference them. docs/population.md describes every number. The criteria are
// FHIRPath over a patient's trd-fhir stage Observations (the write-back, trd-stage-observation); the
// report computes the same from the assessment summaries of `trd-fhir bulk`.

Alias: MPOP = http://terminology.hl7.org/CodeSystem/measure-population
Alias: MSCORING = http://terminology.hl7.org/CodeSystem/measure-scoring
Alias: MTYPE = http://terminology.hl7.org/CodeSystem/measure-type

Invariant: trd-measure-populations
Description: "Each group and stratum has exactly one initial population, one denominator and one numerator, with numerator <= denominator <= initial population"
Expression: "group.all(population.where(code.coding.where(system = 'http://terminology.hl7.org/CodeSystem/measure-population' and code = 'initial-population').exists()).count() = 1 and population.where(code.coding.where(system = 'http://terminology.hl7.org/CodeSystem/measure-population' and code = 'denominator').exists()).count() = 1 and population.where(code.coding.where(system = 'http://terminology.hl7.org/CodeSystem/measure-population' and code = 'numerator').exists()).count() = 1 and population.where(code.coding.code = 'numerator').count.single() <= population.where(code.coding.code = 'denominator').count.single() and population.where(code.coding.code = 'denominator').count.single() <= population.where(code.coding.code = 'initial-population').count.single()) and group.stratifier.stratum.all(population.where(code.coding.code = 'numerator').count.single() <= population.where(code.coding.code = 'denominator').count.single())"
Severity: #error

Invariant: trd-measure-score
Description: "The measure score is the numerator over the denominator (4 decimal places), absent when the denominator is 0"
Expression: "group.all(population.where(code.coding.code = 'denominator').count.single() = 0 or (measureScore.value - (population.where(code.coding.code = 'numerator').count.single() / population.where(code.coding.code = 'denominator').count.single())).abs() < 0.0001)"
Severity: #error

Profile: TrdPopulationMeasureReport
Parent: MeasureReport
Id: trd-population-measurereport
Title: "TRD population MeasureReport"
Description: "A summary MeasureReport of one staging model over the patients of a trd-fhir bulk run: initial population = patients staged, denominator = those the model could rate, numerator = those meeting the model's TRD definition (docs/rules.md), with the stratum psychotherapy counted / not counted for the models that count psychotherapy (Conway, Markowitz). The period is the as-of date of the run (a point prevalence)."
* obeys trd-measure-populations and trd-measure-score
* status = #complete (exactly)
* type = #summary (exactly)
* measure 1..1 MS
* measure only Canonical(Measure)
* subject 0..0
* date 1..1 MS
* period MS
* group 1..1 MS
* group.code 1..1 MS
* insert GroupCoded
* group.population 3..3 MS
* group.population.code 1..1
* group.population.count 1..1
* group.measureScore MS
* group.stratifier 0..1 MS
* group.stratifier.code 1..1
* group.stratifier.stratum.value 1..1
* group.stratifier.stratum.population 3..3
* group.stratifier.stratum.population.count 1..1

RuleSet: GroupCoded
* group.code.coding 1..1
* group.code.coding.system 1..1
* group.code.coding.system = TRD (exactly)
* group.code.coding.code 1..1
* group.code from TrdModelsVS (required)

RuleSet: PopulationMeasure(code)
* version = "0.1.0"
* status = #draft
* experimental = false
* date = "2026-12-04"
* publisher = "trd-fhir project"
* subjectCodeableConcept = http://hl7.org/fhir/resource-types#Patient
* scoring = MSCORING#proportion
* type = MTYPE#outcome
* improvementNotation = http://terminology.hl7.org/CodeSystem/measure-improvement-notation#decrease
* group[0].code = TRD#{code}
* group[0].population[0].code = MPOP#initial-population
* group[0].population[0].criteria.language = #text/fhirpath
* group[0].population[0].criteria.description = "Patients staged: an assessment summary in the bulk run (summaries.ndjson), as of its as-of date; in FHIR, a trd-fhir stage Observation of this model"
* group[0].population[1].code = MPOP#denominator
* group[0].population[1].criteria.language = #text/fhirpath
* group[0].population[1].criteria.description = "Patients the model could rate: the summary's stage has a value for the tested field"
* group[0].population[2].code = MPOP#numerator
* group[0].population[2].criteria.language = #text/fhirpath


Instance: trd-population-regulatory
InstanceOf: Measure
Title: "TRD population measure: regulatory definition (FDA/EMA)"
Usage: #definition
* url = "http://trd-fhir.org/fhir/Measure/trd-population-regulatory"
* name = "TrdPopulationRegulatory"
* title = "TRD population measure: regulatory definition (FDA/EMA)"
* description = "Share of the patients staged whose record meets the regulatory TRD definition as trd-fhir applies it (docs/rules.md): at least 2 counted antidepressant failures (adequate trials that failed) in the current episode, and no bipolar disorder on record."
* insert PopulationMeasure(regulatory)
* group[0].population[0].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'regulatory').exists()).exists()"
* group[0].population[1].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'regulatory').exists()).where(value.exists()).exists()"
* group[0].population[2].criteria.description = "Meets the model's TRD definition: stages.regulatory.met is true"
* group[0].population[2].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'regulatory').exists()).where(value = true).exists()"

Instance: trd-population-thase-rush
InstanceOf: Measure
Title: "TRD population measure: Thase-Rush stage II or higher"
Usage: #definition
* url = "http://trd-fhir.org/fhir/Measure/trd-population-thase-rush"
* name = "TrdPopulationThaseRush"
* title = "TRD population measure: Thase-Rush stage II or higher"
* description = "Share of the patients staged at Thase-Rush stage II or higher (failures in at least 2 antidepressant classes; docs/rules.md)."
* insert PopulationMeasure(thase-rush)
* group[0].population[0].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'thase-rush').exists()).exists()"
* group[0].population[1].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'thase-rush').exists()).where(value.exists()).exists()"
* group[0].population[2].criteria.description = "Meets the model's TRD definition: stages.thase_rush.stage >= 2"
* group[0].population[2].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'thase-rush').exists()).where(value >= 2).exists()"

Instance: trd-population-esm
InstanceOf: Measure
Title: "TRD population measure: European Staging Method TRD1 or higher"
Usage: #definition
* url = "http://trd-fhir.org/fhir/Measure/trd-population-esm"
* name = "TrdPopulationEsm"
* title = "TRD population measure: European Staging Method TRD1 or higher"
* description = "Share of the patients staged in the ESM categories TRD1 to TRD5 or CRD (at least 2 counted failures of at least 2 classes; docs/rules.md)."
* insert PopulationMeasure(esm)
* group[0].population[0].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'esm').exists()).exists()"
* group[0].population[1].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'esm').exists()).where(value.exists()).exists()"
* group[0].population[2].criteria.description = "Meets the model's TRD definition: stages.esm.category is TRD1, TRD2, TRD3, TRD4, TRD5 or CRD"
* group[0].population[2].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'esm').exists()).where(value.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and (code = 'esm-TRD1' or code = 'esm-TRD2' or code = 'esm-TRD3' or code = 'esm-TRD4' or code = 'esm-TRD5' or code = 'esm-CRD')).exists()).exists()"

Instance: trd-population-maudsley
InstanceOf: Measure
Title: "TRD population measure: Maudsley moderate or severe"
Usage: #definition
* url = "http://trd-fhir.org/fhir/Measure/trd-population-maudsley"
* name = "TrdPopulationMaudsley"
* title = "TRD population measure: Maudsley moderate or severe"
* description = "Share of the patients the Maudsley Staging Method could rate whose category is moderate (score 7-10) or severe (11-15); not applicable without a counted failure (docs/rules.md)."
* insert PopulationMeasure(maudsley)
* group[0].population[0].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'maudsley').exists()).exists()"
* group[0].population[1].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'maudsley').exists()).where(value.exists() or dataAbsentReason.coding.code = 'not-applicable').exists()"
* group[0].population[2].criteria.description = "Meets the model's TRD definition: stages.maudsley.category is moderate or severe"
* group[0].population[2].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'maudsley').exists()).where(interpretation.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and (code = 'maudsley-moderate' or code = 'maudsley-severe')).exists()).exists()"

Instance: trd-population-conway
InstanceOf: Measure
Title: "TRD population measure: Conway stage 1 or higher"
Usage: #definition
* url = "http://trd-fhir.org/fhir/Measure/trd-population-conway"
* name = "TrdPopulationConway"
* title = "TRD population measure: Conway stage 1 or higher"
* description = "Share of the patients staged at Conway stage 1 or higher: at least 2 counted failures of at least 2 classes, a failed adequate psychotherapy (at least 8 sessions, evidence-based) counting as a class of its own (docs/rules.md). Stratified by whether a psychotherapy failure was counted."
* insert PopulationMeasure(conway)
* group[0].population[0].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'conway').exists()).exists()"
* group[0].population[1].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'conway').exists()).where(value.exists()).exists()"
* group[0].population[2].criteria.description = "Meets the model's TRD definition: stages.conway.stage >= 1"
* group[0].population[2].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'conway').exists()).where(value >= 1).exists()"
* group[0].stratifier[0].code.text = "psychotherapy counted"
* group[0].stratifier[0].description = "Psychotherapy counted / not counted. counted: psychotherapy is one of the classes of the counted failures (stages.conway.classes; a psychotherapy trial among explanations.conway.trials); not counted: otherwise"
* group[0].stratifier[0].criteria.language = #text/fhirpath
* group[0].stratifier[0].criteria.description = "true: psychotherapy counted; false: not counted"
* group[0].stratifier[0].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'conway').exists()).where(component.where(code.coding.code = 'failed-classes').value.contains('psychotherapy')).exists()"

Instance: trd-population-markowitz
InstanceOf: Measure
Title: "TRD population measure: Markowitz psychotherapy-inclusive definition"
Usage: #definition
* url = "http://trd-fhir.org/fhir/Measure/trd-population-markowitz"
* name = "TrdPopulationMarkowitz"
* title = "TRD population measure: Markowitz psychotherapy-inclusive definition"
* description = "Share of the patients staged who meet Markowitz et al. 2022: at least 2 counted antidepressant failures and a failed evidence-based psychotherapy of at least 9 sessions (docs/rules.md). Stratified by whether a psychotherapy failure was counted."
* insert PopulationMeasure(markowitz)
* group[0].population[0].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'markowitz').exists()).exists()"
* group[0].population[1].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'markowitz').exists()).where(value.exists()).exists()"
* group[0].population[2].criteria.description = "Meets the model's TRD definition: stages.markowitz.met is true"
* group[0].population[2].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'markowitz').exists()).where(value = true).exists()"
* group[0].stratifier[0].code.text = "psychotherapy counted"
* group[0].stratifier[0].description = "Psychotherapy counted / not counted. counted: a failed evidence-based psychotherapy of at least 9 sessions was counted (stages.markowitz.missing lacks adequate-psychotherapy-trial; a psychotherapy trial among explanations.markowitz.trials); not counted: otherwise"
* group[0].stratifier[0].criteria.language = #text/fhirpath
* group[0].stratifier[0].criteria.description = "true: psychotherapy counted; false: not counted"
* group[0].stratifier[0].criteria.expression = "Observation.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and code = 'markowitz').exists()).where(component.where(code.coding.code = 'missing-criterion' and value.coding.code = 'markowitz-adequate-psychotherapy-trial').empty()).exists()"

Instance: trd-population-measurereport-example
InstanceOf: TrdPopulationMeasureReport
Title: "Conway stage 1 or higher in a synthetic population of 100"
Usage: #example
* status = #complete
* type = #summary
* measure = "http://trd-fhir.org/fhir/Measure/trd-population-conway"
* date = "2026-10-01T00:00:00Z"
* period.start = "2026-10-01"
* period.end = "2026-10-01"
* group[0].code = TRD#conway
* group[0].population[0].code = MPOP#initial-population
* group[0].population[0].count = 100
* group[0].population[1].code = MPOP#denominator
* group[0].population[1].count = 100
* group[0].population[2].code = MPOP#numerator
* group[0].population[2].count = 31
* group[0].measureScore.value = 0.31
* group[0].stratifier[0].code.text = "psychotherapy counted"
* group[0].stratifier[0].stratum[0].value.text = "counted"
* group[0].stratifier[0].stratum[0].population[0].code = MPOP#initial-population
* group[0].stratifier[0].stratum[0].population[0].count = 6
* group[0].stratifier[0].stratum[0].population[1].code = MPOP#denominator
* group[0].stratifier[0].stratum[0].population[1].count = 6
* group[0].stratifier[0].stratum[0].population[2].code = MPOP#numerator
* group[0].stratifier[0].stratum[0].population[2].count = 5
* group[0].stratifier[0].stratum[0].measureScore.value = 0.8333
* group[0].stratifier[0].stratum[1].value.text = "not counted"
* group[0].stratifier[0].stratum[1].population[0].code = MPOP#initial-population
* group[0].stratifier[0].stratum[1].population[0].count = 94
* group[0].stratifier[0].stratum[1].population[1].code = MPOP#denominator
* group[0].stratifier[0].stratum[1].population[1].count = 94
* group[0].stratifier[0].stratum[1].population[2].code = MPOP#numerator
* group[0].stratifier[0].stratum[1].population[2].count = 26
* group[0].stratifier[0].stratum[1].measureScore.value = 0.2766
