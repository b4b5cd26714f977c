Alias: TRD = http://trd-fhir.org/fhir/CodeSystem/trd
Alias: OBSCAT = http://terminology.hl7.org/CodeSystem/observation-category
Alias: V3INT = http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation
Alias: UCUM = http://unitsofmeasure.org
Alias: $assessment = http://trd-fhir.org/fhir/sid/assessment
Alias: $careplan = http://trd-fhir.org/fhir/sid/careplan
