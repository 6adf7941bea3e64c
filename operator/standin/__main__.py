"""`python -m kubefoundry.operator.standin`: runs the Dynamo STAND-IN controller (not NVIDIA Dynamo)."""

from .dynamo import main

if __name__ == "__main__":
    main()
