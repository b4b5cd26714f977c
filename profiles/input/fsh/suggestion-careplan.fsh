Extension: TrdSource
Id: trd-source
Title: "Source of a suggestion"
Description: "The published source (paper, guideline, standard of care) that a suggestion of trd-fhir rests on."
Context: CarePlan.activity.detail
* value[x] only string
* valueString 1..1

Profile: TrdSuggestionCarePlan
Parent: CarePlan
Id: trd-suggestion-careplan
Title: "TRD suggestion CarePlan"
Description: "The suggestions of a TRD assessment as one draft CarePlan with intent proposal: considerations for the clinician, not orders. One current draft per patient (identifier http://trd-fhir.org/fhir/sid/careplan|<patient id>, written by a conditional update on that identifier and status=draft). It addresses the MDD Condition; supportingInfo points at the stage Observations; each activity is one suggestion with its reason and source, its cautions as progress notes; a suggestion with a sequential plan (Guidi & Fava 2024 Table 4) is followed by one activity per step, in order, each with its relative timing (scheduledString, never a date) and the condition that must hold first (a progress note)."
* identifier 1..1 MS
* identifier.system 1..1
* identifier.system = $careplan (exactly)
* identifier.value 1..1
* status = #draft
* intent = #proposal
* obeys trd-activity-source
* category MS
* title 1..1 MS
* subject 1..1 MS
* subject only Reference(Patient)
* created 1..1 MS
* author 1..1 MS
* author only Reference(Device)
* addresses MS
* addresses only Reference(Condition)
* supportingInfo MS
* activity MS
* activity.reference 0..0
* activity.detail 1..1 MS
* activity.detail.extension contains TrdSource named source 1..1 MS
* activity.detail.kind MS
* activity.detail.code 1..1 MS
* activity.detail.code from TrdSuggestionsVS (required)
* activity.detail.reasonCode 1..* MS
* activity.detail.reasonCode.text 1..1
* activity.detail.status MS
* activity.detail.description 1..1 MS

Instance: trd-suggestion-careplan-example
InstanceOf: TrdSuggestionCarePlan
Title: "Draft CarePlan with two suggestions"
Usage: #example
* identifier.system = $careplan
* identifier.value = "example"
* status = #draft
* intent = #proposal
* category = TRD#suggestion-plan "TRD decision-support suggestions"
* title = "Treatment-resistant depression: considerations for the clinician"
* description = "Suggestions of trd-fhir 0.1.0 from the assessment as of 2026-11-21: considerations to review, not orders."
* subject = Reference(Patient/example)
* created = "2026-11-21T00:00:00Z"
* author = Reference(Device/trd-fhir)
* addresses = Reference(Condition/mdd)
* supportingInfo = Reference(Observation/trd-stage-observation-example)
* activity[0].detail.extension[source].valueString = "Markowitz et al. 2022; Guidi & Fava 2024"
* activity[0].detail.kind = #ServiceRequest
* activity[0].detail.code = TRD#psychotherapy-trial "Evidence-based psychotherapy trial"
* activity[0].detail.reasonCode.text = "no adequate psychotherapy trial on record"
* activity[0].detail.status = #not-started
* activity[0].detail.description = "Consider an evidence-based psychotherapy trial (CBT, IPT, BA, MBCT, CBASP)"
* activity[1].detail.extension[source].valueString = "Guidi & Fava 2024 (criterion E); Markowitz et al. 2022"
* activity[1].detail.code = TRD#shared-decision "Shared decision"
* activity[1].detail.reasonCode.text = "a TRD model is met"
* activity[1].detail.status = #not-started
* activity[1].detail.description = "Shared decision and a realistic appraisal of the treatment history"
