Profile: TrdFindingObservation
Parent: Observation
Id: trd-finding-observation
Title: "TRD finding Observation"
Description: "A finding of the TRD assessment (pseudo-resistance, a possible misdiagnosis, a medical mimic, a safety concern, a gap in the record), coded from the trd-fhir CodeSystem. valueString holds the detail, interpretation the severity (an urgent finding also carries the HL7 code AA, critical abnormal, and is raised as an active Flag), method the source it rests on, derivedFrom the scores that show it."
* insert AssessmentBasics
* status = #preliminary
* insert CategorySlice(survey, survey)
* insert TrdCoded
* code from TrdFindingsVS (required)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] 1..1 MS
* value[x] only string
* interpretation 1..* MS
* method 1..1 MS
* method.text 1..1
* focus 0..0
* component 0..0

Instance: trd-finding-observation-example
InstanceOf: TrdFindingObservation
Title: "Urgent finding: positive PHQ-9 item 9"
Usage: #example
* identifier.system = $assessment
* identifier.value = "9a8b7c6d5e4f40312233445566778899"
* status = #preliminary
* category[survey] = OBSCAT#survey "Survey"
* code = TRD#safety-item9 "Positive PHQ-9 item 9 (thoughts of self-harm)"
* subject = Reference(Patient/example)
* effectiveDateTime = "2026-11-21"
* issued = "2026-11-21T00:00:00Z"
* valueString = "PHQ-9 item 9 = 1 on 2026-11-02"
* interpretation.coding[0] = V3INT#AA "Critical abnormal"
* interpretation.coding[1] = TRD#severity-urgent "Urgent"
* interpretation.text = "urgent"
* method.text = "standard of care; PHQ-9 item 9 (LOINC 44260-8)"
* derivedFrom = Reference(Observation/phq9-item9)

Instance: trd-safety-flag-example
InstanceOf: Flag
Title: "Active safety Flag raised with the urgent finding"
Usage: #example
* extension[0].url = "http://hl7.org/fhir/StructureDefinition/flag-detail"
* extension[0].valueReference = Reference(Observation/trd-finding-observation-example)
* identifier.system = "http://trd-fhir.org/fhir/sid/flag"
* identifier.value = "1f2e3d4c5b6a47988796a5b4c3d2e1f0"
* status = #active
* category[0] = http://terminology.hl7.org/CodeSystem/flag-category#clinical "Clinical"
* category[1] = http://terminology.hl7.org/CodeSystem/flag-category#safety "Safety"
* code = TRD#safety-item9 "Positive PHQ-9 item 9 (thoughts of self-harm)"
* code.text = "Positive PHQ-9 item 9 (thoughts of self-harm): PHQ-9 item 9 = 1 on 2026-11-02"
* subject = Reference(Patient/example)
* period.start = "2026-11-21"
* author = Reference(Device/trd-fhir)
