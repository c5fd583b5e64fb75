"""The forms of this app in the casebook registry: prior therapy lines, IO cycles (with the
end of IO treatment), and the allogeneic HSCT after IO."""

from django.utils.translation import gettext_lazy as _

from patients.display import day_column, derived_column, field_column, show_value
from patients.registry import CasebookForm, Part, casebook
from patients.validators import Event
from treatments.forms import EndOfTreatmentForm, HsctForm, IOCycleForm, PriorLineForm
from treatments.models import AlloHsct, EndOfTreatment, IOCycle, PriorTherapyLine
from treatments.validators import check_end_of_treatment, check_hsct, check_io_cycle, check_prior_line


def prior_line_dates(rows) -> dict:
    lines = [(row.line_number, row.start_date, row.end_date) for row in rows]
    events = []
    for number, start, end in lines:
        events.append(Event(f"prior line {number} start", start))
        if end:
            events.append(Event(f"prior line {number} end", end))
    return {"prior_lines": tuple(events), "prior_line_numbers": tuple(number for number, _start, _end in lines)}


def io_cycle_dates(rows) -> dict:
    cycles = tuple((row.cycle_number, row.start_date) for row in rows)
    return {"cycles": cycles, "after_c1d1": tuple(Event(f"IO cycle {n}", start) for n, start in cycles if n > 1)}


def hsct_dates(rows) -> dict:
    hsct = next((row.hsct_date for row in rows if row.performed), None)
    return {"hsct_date": hsct, "after_c1d1": (Event("HSCT", hsct),)} if hsct else {}


casebook.register(CasebookForm(
    key="prior_lines",
    label=_("Prior therapy lines"),
    order=30,
    requires_data=False,
    why=_("Checked against the disease status instead: the number of lines is analysed, and zero is an answer."),
    parts=(Part(
        PriorTherapyLine, slug="prior-lines", repeating=True, form_class=PriorLineForm, check=check_prior_line,
        row_label_field="line_number", dates=prior_line_dates,
        codable=("end_date", "best_response"),
        columns=(
            field_column(PriorTherapyLine, "line_number", numeric=True),
            field_column(PriorTherapyLine, "category"),
            field_column(PriorTherapyLine, "regimen"),
            field_column(PriorTherapyLine, "start_date"),
            field_column(PriorTherapyLine, "end_date"),
            field_column(PriorTherapyLine, "best_response"),
        ),
        add_label=_("Add a prior line"),
        export_table="prior_lines",
        export=("line_number", "category", "start_date", "end_date", "best_response"),
        export_order_by=("patient_id", "line_number", "pk"),
    ),),
))

casebook.register(CasebookForm(
    key="io_cycles",
    label=_("IO cycles"),
    order=40,
    requires_data=True,
    why=_("Every patient of the study received at least one IO dose: cycle 1 day 1 is the index date."),
    parts=(
        Part(
            IOCycle, slug="io-cycles", repeating=True, form_class=IOCycleForm, check=check_io_cycle,
            row_label_field="cycle_number", dates=io_cycle_dates,
            codable=("dose_day8", "dose_day15", "delayed", "dose_reduced"),
            columns=(
                field_column(IOCycle, "cycle_number", numeric=True),
                field_column(IOCycle, "start_date"),
                day_column("start_date"),
                field_column(IOCycle, "dose_day1", numeric=True),
                field_column(IOCycle, "dose_day8", numeric=True),
                field_column(IOCycle, "dose_day15", numeric=True),
                derived_column(_("Total dose (mg/m²)"), lambda row: show_value(None, row.total_dose), numeric=True),
                field_column(IOCycle, "delayed"),
                field_column(IOCycle, "dose_reduced"),
                field_column(IOCycle, "modification_reason"),
            ),
            add_label=_("Add a cycle"),
            export_table="io_cycles",
            export=("cycle_number", "start_date", "dose_day1", "dose_day8", "dose_day15", "total_dose", "delayed",
                    "dose_reduced"),
            export_order_by=("patient_id", "cycle_number", "pk"),
        ),
        Part(
            EndOfTreatment, slug="end-of-treatment", repeating=False, form_class=EndOfTreatmentForm,
            check=check_end_of_treatment, title=_("End of IO treatment"),
            export_table="end_of_treatment", export=("reason",),
        ),
    ),
))

casebook.register(CasebookForm(
    key="hsct",
    label=_("Allogeneic HSCT after IO"),
    order=60,
    requires_data=True,
    why=_("Whether the patient proceeded to HSCT is asked of everyone: 'no' is an answer the analysis needs."),
    parts=(Part(
        AlloHsct, slug="hsct", repeating=False, form_class=HsctForm, check=check_hsct, dates=hsct_dates,
        codable=("performed", "donor", "conditioning", "tbi", "status_at_hsct"),
        export_table="hsct",
        export=("performed", "hsct_date", "donor", "conditioning", "tbi", "status_at_hsct", "io_cycles_before"),
    ),),
))
