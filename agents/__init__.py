"""Actors of a campaign: proposers pick candidates, workers turn jobs into outcomes."""
