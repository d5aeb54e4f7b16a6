"""Teaching: exercises with self-checks, and the course build (student and instructor notebooks).

| concept | names | module |
| --- | --- | --- |
| exercises | ``EXERCISES``, ``check``, ``grade``, ``answer_box``, ``notebook_exercises`` | ``exercises`` |
| student and instructor notebooks, nbgrader's course | see :mod:`abnb.teach.build` | ``build`` |
"""

from __future__ import annotations

from abnb.teach.exercises import EXERCISES, Exercise, Feedback, answer_box, check, grade, notebook_exercises

__all__ = ["EXERCISES", "Exercise", "Feedback", "answer_box", "check", "grade", "notebook_exercises"]
