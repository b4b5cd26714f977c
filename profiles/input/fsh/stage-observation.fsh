Profile: TrdStageObservation
Parent: Observation
Id: trd-stage-observation
Title: "TRD stage Observation"
Description: "The result of one staging model or definition of treatment-resistant depression (Maudsley, Thase & Rush, ESM, MGH-S, DM-TRD, Conway, Markowitz, regulatory, Guidi & Fava criteria and response spectrum) as computed by trd-fhir. Preliminary until a clinician confirms it. value[x] holds the model's headline (stage, score, category or met), components its dimensions, interpretation its category; note holds the one-line explanation, method the model, its paper and the software version."
* obeys trd-value and trd-component-value
* insert AssessmentBasics
* status = #preliminary
* insert CategorySlice(survey, survey)
* insert TrdCoded
* code from TrdModelsVS (required)
* effective[x] 1..1 MS
* effective[x] only dateTime
* value[x] MS
* value[x] only integer or Quantity or CodeableConcept or boolean or string
* interpretation MS
* note 1..* MS
* method 1..1 MS
* method.text 1..1
* focus 0..0
* insert ComponentSlicing
* component.code from TrdDimensionsVS (extensible)
* component contains upperBound 0..1 MS
* component[upperBound].code = TRD#upper-bound
* component[upperBound].value[x] only integer or Quantity or boolean

Instance: trd-stage-observation-example
InstanceOf: TrdStageObservation
Title: "Maudsley Staging Method score 8 (moderate)"
Usage: #example
* identifier.system = $assessment
* identifier.value = "0c8f3b1e9d7a4c2b8e6f5a4d3c2b1a09"
* status = #preliminary
* category[survey] = OBSCAT#survey "Survey"
* code = TRD#maudsley "Maudsley Staging Method score"
* subject = Reference(Patient/example)
* effectiveDateTime = "2026-11-21"
* issued = "2026-11-21T00:00:00Z"
* valueInteger = 8
* interpretation = TRD#maudsley-moderate "Maudsley: moderate (7-10)"
* note.text = "MSM 8 (moderate): duration 3, severity 3, failures 1, augmentation 1, ect 0; 2 failed: SSRI (sertraline) and SNRI (venlafaxine); severity from PHQ-9 17 on 2026-10-01 (moderately severe)"
* method.text = "Maudsley Staging Method score: Fekadu et al. 2009; standardised rating Fekadu et al. 2018; trd-fhir 0.1.0, assessment contract 1"
* derivedFrom[0] = Reference(Observation/phq9-baseline)
* derivedFrom[1] = Reference(Observation/phq9-latest)
* component[0].code = TRD#maudsley-duration
* component[0].valueInteger = 3
* component[1].code = TRD#maudsley-severity
* component[1].valueInteger = 3
* component[2].code = TRD#maudsley-failures
* component[2].valueInteger = 1
* component[3].code = TRD#maudsley-augmentation
* component[3].valueInteger = 1
* component[4].code = TRD#maudsley-ect
* component[4].valueInteger = 0
* component[upperBound].code = TRD#upper-bound
* component[upperBound].valueInteger = 9
