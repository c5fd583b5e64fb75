"""REST API of the treatment forms: prior therapy lines, IO cycles, end of IO treatment, allo-HSCT."""

from patients.api import crf_viewset
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine

PriorLineViewSet = crf_viewset(PriorTherapyLine, repeating=True)
IOCycleViewSet = crf_viewset(IOCycle, repeating=True)
EndOfTreatmentViewSet = crf_viewset(EndOfTreatment, repeating=False)
HsctViewSet = crf_viewset(AlloHsct, repeating=False)
