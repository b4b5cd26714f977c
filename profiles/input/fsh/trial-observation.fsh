Profile: TrdTrialObservation
Parent: Observation
Id: trd-trial-observation
Title: "TRD treatment trial Observation"
Description: "One treatment trial (an antidepressant, an augmenting agent, or a course of psychotherapy, ECT, rTMS or esketamine) as reconstructed by trd-fhir: focus on the medication or procedure resources, effectivePeriod the trial's span, value the outcome, components for kind, agent, class, weeks at an adequate dose, maximum and adequate daily dose, sessions, adequacy, outcome and evidence."
* obeys trd-component-value and trd-trial-coded and trd-trial-units
* insert AssessmentBasics
* status = #preliminary
* insert CategorySlice(therapy, therapy)
* code = TRD#trial-summary
* code.text 1..1 MS
* effective[x] 1..1 MS
* effective[x] only Period
* effectivePeriod.start 1..1
* focus MS
* value[x] 1..1 MS
* value[x] only CodeableConcept
* valueCodeableConcept from TrdTrialOutcomesVS (required)
* insert ComponentSlicing
* component contains
    kind 1..1 MS and
    agent 1..1 MS and
    drugClass 0..1 MS and
    weeksAtAdequateDose 0..1 MS and
    maxDailyDose 0..1 MS and
    adequateDailyDose 0..1 MS and
    sessions 0..1 MS and
    adequacy 1..1 MS and
    outcome 1..1 MS and
    evidence 1..1 MS
* component[kind].code = TRD#trial-kind
* component[kind].value[x] only CodeableConcept
* component[kind].valueCodeableConcept from TrdTrialKindsVS (required)
* component[agent].code = TRD#trial-agent
* component[agent].value[x] only CodeableConcept
* component[drugClass].code = TRD#drug-class
* component[drugClass].value[x] only CodeableConcept
* component[drugClass].valueCodeableConcept from TrdDrugClassesVS (required)
* component[weeksAtAdequateDose].code = TRD#weeks-at-adequate-dose
* component[weeksAtAdequateDose].value[x] only Quantity
* component[weeksAtAdequateDose].valueQuantity = UCUM#wk
* component[maxDailyDose].code = TRD#max-daily-dose
* component[maxDailyDose].value[x] only Quantity
* component[maxDailyDose].valueQuantity = UCUM#mg/d
* component[adequateDailyDose].code = TRD#adequate-daily-dose
* component[adequateDailyDose].value[x] only Quantity
* component[adequateDailyDose].valueQuantity = UCUM#mg/d
* component[sessions].code = TRD#sessions
* component[sessions].value[x] only integer
* component[adequacy].code = TRD#adequacy
* component[adequacy].value[x] only CodeableConcept
* component[adequacy].valueCodeableConcept from TrdAdequacyVS (required)
* component[outcome].code = TRD#outcome
* component[outcome].value[x] only CodeableConcept
* component[outcome].valueCodeableConcept from TrdTrialOutcomesVS (required)
* component[evidence].code = TRD#evidence
* component[evidence].value[x] only CodeableConcept
* component[evidence].valueCodeableConcept from TrdEvidenceVS (required)

Instance: trd-trial-observation-example
InstanceOf: TrdTrialObservation
Title: "Sertraline trial: adequate, non-response (measured)"
Usage: #example
* identifier.system = $assessment
* identifier.value = "5b7e0d2c4a1f4e3d9c8b7a6f5e4d3c2b"
* status = #preliminary
* category[therapy] = OBSCAT#therapy "Therapy"
* code = TRD#trial-summary "Treatment trial summary"
* code.text = "Antidepressant trial: sertraline (SSRI), 2026-02-10 to 2026-04-30"
* subject = Reference(Patient/example)
* effectivePeriod.start = "2026-02-10"
* effectivePeriod.end = "2026-04-30"
* issued = "2026-11-21T00:00:00Z"
* focus = Reference(MedicationStatement/sertraline)
* valueCodeableConcept = TRD#outcome-non-response "Non response"
* derivedFrom[0] = Reference(Observation/phq9-baseline)
* derivedFrom[1] = Reference(Observation/phq9-week11)
* component[kind].valueCodeableConcept = TRD#kind-antidepressant
* component[agent].valueCodeableConcept.text = "sertraline"
* component[drugClass].valueCodeableConcept = TRD#class-SSRI
* component[weeksAtAdequateDose].valueQuantity = 11.4 'wk' "wk"
* component[maxDailyDose].valueQuantity = 150 'mg/d' "mg/day"
* component[adequateDailyDose].valueQuantity = 50 'mg/d' "mg/day"
* component[adequacy].valueCodeableConcept = TRD#adequacy-adequate
* component[outcome].valueCodeableConcept = TRD#outcome-non-response
* component[outcome].valueCodeableConcept.text = "PHQ-9 19 -> 17 (11% improvement)"
* component[evidence].valueCodeableConcept = TRD#evidence-measured
