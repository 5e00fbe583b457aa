"""HTTP conventions shared by every domain's handlers: problem+json errors, JSON bodies, auth."""
from api.problems import FieldError, Problem, problem_response
from api.bodies import read_json

__all__ = ["FieldError", "Problem", "problem_response", "read_json"]
