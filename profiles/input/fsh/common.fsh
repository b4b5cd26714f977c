// Rule sets and invariants shared by the profiles.

RuleSet: AssessmentIdentifier
* identifier 1..1 MS
* identifier.system 1..1
* identifier.system = $assessment (exactly)
* identifier.value 1..1

RuleSet: AssessmentBasics
* insert AssessmentIdentifier
* status MS
* subject 1..1 MS
* subject only Reference(Patient)
* issued 1..1 MS
* device 0..1 MS
* device only Reference(Device)
* derivedFrom MS
* derivedFrom only Reference(Observation or QuestionnaireResponse)

RuleSet: CategorySlice(name, code)
* category 1..* MS
* category ^slicing.discriminator.type = #pattern
* category ^slicing.discriminator.path = "$this"
* category ^slicing.rules = #open
* category ^slicing.description = "The FHIR observation category"
* category contains {name} 1..1 MS
* category[{name}] = OBSCAT#{code}

RuleSet: ComponentSlicing
* component MS
* component ^slicing.discriminator.type = #pattern
* component ^slicing.discriminator.path = "code"
* component ^slicing.rules = #open
* component ^slicing.description = "Components by their code in the trd-fhir CodeSystem"

RuleSet: TrdCoded
* code.coding 1..1
* code.coding.system 1..1
* code.coding.system = TRD (exactly)
* code.coding.code 1..1

Invariant: trd-value
Description: "A value, the reason it is absent, or components"
Expression: "value.exists() or dataAbsentReason.exists() or component.exists()"
Severity: #error

Invariant: trd-component-value
Description: "Each component has a value or the reason it is absent"
Expression: "component.all(value.exists() or dataAbsentReason.exists())"
Severity: #error

// medplum's validator (tools/validator) counts slices but does not apply the constraints of a
// slice's children; these invariants state those constraints in FHIRPath, which it evaluates.
Invariant: trd-trial-coded
Description: "Kind, class, adequacy, outcome and evidence components are coded"
Expression: "component.where(code.coding.where(system = 'http://trd-fhir.org/fhir/CodeSystem/trd' and (code = 'trial-kind' or code = 'drug-class' or code = 'adequacy' or code = 'outcome' or code = 'evidence')).exists()).all(value.exists() implies value is CodeableConcept)"
Severity: #error

Invariant: trd-trial-units
Description: "Doses are in mg/d and durations in wk (UCUM)"
Expression: "component.where(code.coding.where(code = 'max-daily-dose' or code = 'adequate-daily-dose').exists()).value.all(system = 'http://unitsofmeasure.org' and code = 'mg/d') and component.where(code.coding.where(code = 'weeks-at-adequate-dose').exists()).value.all(system = 'http://unitsofmeasure.org' and code = 'wk')"
Severity: #error

Invariant: trd-activity-source
Description: "Every suggestion carries its reason and its source (extension trd-source)"
Expression: "activity.all(detail.extension.where(url = 'http://trd-fhir.org/fhir/StructureDefinition/trd-source' and value.exists()).exists() and detail.reasonCode.exists())"
Severity: #error
