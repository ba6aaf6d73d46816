"""Every way a report comes in: collectors, citizens (随手拍), hotline transfers, Open311 and machines."""
